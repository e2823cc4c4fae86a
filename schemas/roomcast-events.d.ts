/*
 * roomcast-events.d.ts - the Socket.IO events of roomcast, for client apps.
 *
 * Generated from schemas/catalog.json and the Avro schemas by roomcast-catalog-ts;
 * do not edit: change the catalog and regenerate with
 *   build/roomcast-catalog-ts > schemas/roomcast-events.d.ts
 * (the docs.typescript test fails while this file is stale).
 *
 *   import { io, Socket } from "socket.io-client";
 *   const socket: Socket<ServerToClientEvents, ClientToServerEvents> =
 *     io(url, { auth: { token } });
 */

/** Error codes of acks and of the `error` event. */
export type RoomcastErrorCode = "FORBIDDEN" | "INVALID_ARGUMENT" | "RATE_LIMITED";

/** Ack of join:program and leave:program. */
export type RoomcastAck = { ok: true } | { ok: false; error: { code: RoomcastErrorCode } };

/** Sent after an explicit catch-up (auth lastOffset or lastEventTimestamp). */
export interface CatchupComplete {
  replayed: number;
  /** true: the gap was beyond the window, nothing was replayed; refetch. */
  truncated: boolean;
}

/** Sent when the socket's token expired: refresh within graceMs or be disconnected. */
export interface AuthExpired {
  /** The token's exp, seconds since the epoch. */
  exp: number;
  graceMs: number;
}

/** Ack of auth:refresh. */
export type AuthRefreshAck =
  | { ok: true; exp: number | null }
  | { ok: false; error: { code: "TOKEN_MISSING" | "TOKEN_INVALID" | "TOKEN_EXPIRED" | "FORBIDDEN" | "INVALID_ARGUMENT" | "RATE_LIMITED" } };

/**
 * request:created (RequestMutation CREATED): rooms program:{program_id}.
 * A request was created.
 */
export interface RequestCreatedEvent {
  eventId: string;
  event: "request:created";
  programId: string;
  requestId: string;
  data: {
    title: string | null;
  };
  performedBy: {
    userId: string;
    name: string | null;
  };
  /** occurred_at as ISO-8601 UTC with milliseconds */
  timestamp: string;
}

/**
 * request:updated (RequestMutation UPDATED): rooms program:{program_id}.
 * Fields of a request changed; changedFields names them.
 */
export interface RequestUpdatedEvent {
  eventId: string;
  event: "request:updated";
  programId: string;
  requestId: string;
  data: {
    title: string | null;
    changedFields: string[] | null;
  };
  performedBy: {
    userId: string;
    name: string | null;
  };
  /** occurred_at as ISO-8601 UTC with milliseconds */
  timestamp: string;
}

/**
 * request:status_changed (RequestMutation STATUS_CHANGED): rooms program:{program_id}.
 * A request moved from one status to another.
 */
export interface RequestStatusChangedEvent {
  eventId: string;
  event: "request:status_changed";
  programId: string;
  requestId: string;
  data: {
    from: string | null;
    to: string | null;
  };
  performedBy: {
    userId: string;
    name: string | null;
  };
  /** occurred_at as ISO-8601 UTC with milliseconds */
  timestamp: string;
}

/**
 * request:assigned (RequestMutation ASSIGNED): rooms program:{program_id}, user:{assignee_id}.
 * A request was assigned (assigneeId null: unassigned); the assignee is told in their user room.
 */
export interface RequestAssignedEvent {
  eventId: string;
  event: "request:assigned";
  programId: string;
  requestId: string;
  data: {
    assigneeId: string | null;
    previousAssigneeId: string | null;
  };
  performedBy: {
    userId: string;
    name: string | null;
  };
  /** occurred_at as ISO-8601 UTC with milliseconds */
  timestamp: string;
}

/**
 * comment:added (CommentMutation ADDED): rooms program:{program_id}.
 * A comment was added to a request.
 */
export interface CommentAddedEvent {
  eventId: string;
  event: "comment:added";
  programId: string;
  requestId: string;
  data: {
    commentId: string;
    bodyPreview: string | null;
  };
  performedBy: {
    userId: string;
    name: string | null;
  };
  /** occurred_at as ISO-8601 UTC with milliseconds */
  timestamp: string;
}

/**
 * comment:deleted (CommentMutation DELETED): rooms program:{program_id}.
 * A comment was deleted.
 */
export interface CommentDeletedEvent {
  eventId: string;
  event: "comment:deleted";
  programId: string;
  requestId: string;
  data: {
    commentId: string;
  };
  performedBy: {
    userId: string;
    name: string | null;
  };
  /** occurred_at as ISO-8601 UTC with milliseconds */
  timestamp: string;
}

/**
 * attachment:uploaded (AttachmentMutation UPLOADED): rooms program:{program_id}.
 * A file was attached to a request.
 */
export interface AttachmentUploadedEvent {
  eventId: string;
  event: "attachment:uploaded";
  programId: string;
  requestId: string;
  data: {
    attachmentId: string;
    fileName: string | null;
    contentType: string | null;
    sizeBytes: number | null;
  };
  performedBy: {
    userId: string;
    name: string | null;
  };
  /** occurred_at as ISO-8601 UTC with milliseconds */
  timestamp: string;
}

/**
 * attachment:deleted (AttachmentMutation DELETED): rooms program:{program_id}.
 * An attachment was removed.
 */
export interface AttachmentDeletedEvent {
  eventId: string;
  event: "attachment:deleted";
  programId: string;
  requestId: string;
  data: {
    attachmentId: string;
  };
  performedBy: {
    userId: string;
    name: string | null;
  };
  /** occurred_at as ISO-8601 UTC with milliseconds */
  timestamp: string;
}

/**
 * member:added (ProgramMembership ADDED): rooms program:{program_id}, user:{user_id}.
 * A user joined a program; their live sockets join its room.
 */
export interface MemberAddedEvent {
  eventId: string;
  event: "member:added";
  programId: string;
  data: {
    userId: string;
    role: string | null;
  };
  performedBy: {
    userId: string;
    name: string | null;
  };
  /** occurred_at as ISO-8601 UTC with milliseconds */
  timestamp: string;
}

/**
 * member:removed (ProgramMembership REMOVED): rooms program:{program_id}, user:{user_id}.
 * A user left a program; their live sockets leave its room.
 */
export interface MemberRemovedEvent {
  eventId: string;
  event: "member:removed";
  programId: string;
  data: {
    userId: string;
    role: string | null;
  };
  performedBy: {
    userId: string;
    name: string | null;
  };
  /** occurred_at as ISO-8601 UTC with milliseconds */
  timestamp: string;
}

/**
 * job:started (JobEvent STARTED): rooms user:{user_id}.
 * A background job of the user started.
 */
export interface JobStartedEvent {
  eventId: string;
  event: "job:started";
  programId?: string;
  data: {
    jobId: string;
    progress: number | null;
    message: string | null;
  };
  /** occurred_at as ISO-8601 UTC with milliseconds */
  timestamp: string;
}

/**
 * job:progress (JobEvent PROGRESS): rooms user:{user_id}.
 * Transient: delivered live only, never replayed, carries no offset.
 * Progress of a running job.
 */
export interface JobProgressEvent {
  eventId: string;
  event: "job:progress";
  programId?: string;
  data: {
    jobId: string;
    progress: number | null;
    message: string | null;
  };
  /** occurred_at as ISO-8601 UTC with milliseconds */
  timestamp: string;
}

/**
 * job:completed (JobEvent COMPLETED): rooms user:{user_id}.
 * A job finished.
 */
export interface JobCompletedEvent {
  eventId: string;
  event: "job:completed";
  programId?: string;
  data: {
    jobId: string;
    progress: number | null;
    message: string | null;
  };
  /** occurred_at as ISO-8601 UTC with milliseconds */
  timestamp: string;
}

/**
 * job:failed (JobEvent FAILED): rooms user:{user_id}.
 * A job failed; message says why.
 */
export interface JobFailedEvent {
  eventId: string;
  event: "job:failed";
  programId?: string;
  data: {
    jobId: string;
    progress: number | null;
    message: string | null;
  };
  /** occurred_at as ISO-8601 UTC with milliseconds */
  timestamp: string;
}

/** Every catalog event payload; `event` tells them apart. */
export type RoomcastEvent =
  | RequestCreatedEvent
  | RequestUpdatedEvent
  | RequestStatusChangedEvent
  | RequestAssignedEvent
  | CommentAddedEvent
  | CommentDeletedEvent
  | AttachmentUploadedEvent
  | AttachmentDeletedEvent
  | MemberAddedEvent
  | MemberRemovedEvent
  | JobStartedEvent
  | JobProgressEvent
  | JobCompletedEvent
  | JobFailedEvent;

/** Event name -> payload. */
export interface RoomcastEventMap {
  "request:created": RequestCreatedEvent;
  "request:updated": RequestUpdatedEvent;
  "request:status_changed": RequestStatusChangedEvent;
  "request:assigned": RequestAssignedEvent;
  "comment:added": CommentAddedEvent;
  "comment:deleted": CommentDeletedEvent;
  "attachment:uploaded": AttachmentUploadedEvent;
  "attachment:deleted": AttachmentDeletedEvent;
  "member:added": MemberAddedEvent;
  "member:removed": MemberRemovedEvent;
  "job:started": JobStartedEvent;
  "job:progress": JobProgressEvent;
  "job:completed": JobCompletedEvent;
  "job:failed": JobFailedEvent;
}

/**
 * Server -> client. Stored events carry their offset as the last argument
 * (connection state recovery); transient ones carry none.
 */
export interface ServerToClientEvents {
  "request:created": (payload: RequestCreatedEvent, offset?: string) => void;
  "request:updated": (payload: RequestUpdatedEvent, offset?: string) => void;
  "request:status_changed": (payload: RequestStatusChangedEvent, offset?: string) => void;
  "request:assigned": (payload: RequestAssignedEvent, offset?: string) => void;
  "comment:added": (payload: CommentAddedEvent, offset?: string) => void;
  "comment:deleted": (payload: CommentDeletedEvent, offset?: string) => void;
  "attachment:uploaded": (payload: AttachmentUploadedEvent, offset?: string) => void;
  "attachment:deleted": (payload: AttachmentDeletedEvent, offset?: string) => void;
  "member:added": (payload: MemberAddedEvent, offset?: string) => void;
  "member:removed": (payload: MemberRemovedEvent, offset?: string) => void;
  "job:started": (payload: JobStartedEvent, offset?: string) => void;
  "job:progress": (payload: JobProgressEvent) => void;
  "job:completed": (payload: JobCompletedEvent, offset?: string) => void;
  "job:failed": (payload: JobFailedEvent, offset?: string) => void;
  "catchup:complete": (payload: CatchupComplete) => void;
  "auth:expired": (payload: AuthExpired) => void;
  "error": (payload: { ok: false; error: { code: RoomcastErrorCode } }) => void;
}

/** Client -> server. */
export interface ClientToServerEvents {
  "join:program": (programId: string, ack?: (response: RoomcastAck) => void) => void;
  "leave:program": (programId: string, ack?: (response: RoomcastAck) => void) => void;
  "auth:refresh": (payload: { token: string } | string, ack?: (response: AuthRefreshAck) => void) => void;
}
