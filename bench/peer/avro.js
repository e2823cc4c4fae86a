// Avro schemas of schemas/ and the three framings roomcast accepts, with
// avsc: Confluent wire format (0x00 + 4-byte big-endian schema id, ids from
// schemas/registry.json), single-object encoding (0xC3 0x01 + CRC-64-AVRO
// fingerprint of the Parsing Canonical Form, little-endian) and bare binary
// with the topic's schema. Shared by the peer server and the producer.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import avro from "avsc";

const EMPTY = 0xc15d213aa4d7a795n;
const TABLE = (() => {
  const t = new Array(256);
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i);
    for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n));
    t[i] = fp;
  }
  return t;
})();

/** CRC-64-AVRO of a string, as the 8 little-endian bytes of the framing. */
export function fingerprint(text) {
  let fp = EMPTY;
  for (const b of Buffer.from(text, "utf8")) fp = (fp >> 8n) ^ TABLE[Number((fp ^ BigInt(b)) & 0xffn)];
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(BigInt.asUintN(64, fp));
  return out;
}

export function fingerprintNumber(text) {
  return fingerprint(text).readBigInt64LE();
}

/** Parsing Canonical Form of a schema (JSON value), per the Avro spec. */
export function canonicalForm(schema) {
  const PRIM = new Set(["null", "boolean", "int", "long", "float", "double", "bytes", "string"]);
  const full = (name, ns) => (name.includes(".") || !ns ? name : `${ns}.${name}`);
  const seen = new Set();
  function pcf(s, ns) {
    if (typeof s === "string") return JSON.stringify(PRIM.has(s) ? s : full(s, ns));
    if (Array.isArray(s)) return `[${s.map((x) => pcf(x, ns)).join(",")}]`;
    const type = s.type;
    if (PRIM.has(type)) return JSON.stringify(type);
    if (type === "record" || type === "error" || type === "enum" || type === "fixed") {
      const name = full(s.name, s.namespace ?? ns);
      if (seen.has(name)) return JSON.stringify(name);
      seen.add(name);
      const inner = name.includes(".") ? name.slice(0, name.lastIndexOf(".")) : "";
      const parts = [`"name":${JSON.stringify(name)}`, `"type":${JSON.stringify(type === "error" ? "record" : type)}`];
      if (type === "enum") parts.push(`"symbols":${JSON.stringify(s.symbols)}`);
      else if (type === "fixed") parts.push(`"size":${s.size}`);
      else
        parts.push(
          `"fields":[${s.fields.map((f) => `{"name":${JSON.stringify(f.name)},"type":${pcf(f.type, inner)}}`).join(",")}]`
        );
      return `{${parts.join(",")}}`;
    }
    if (type === "array") return `{"type":"array","items":${pcf(s.items, ns)}}`;
    if (type === "map") return `{"type":"map","values":${pcf(s.values, ns)}}`;
    return pcf(type, ns);
  }
  return pcf(schema, "");
}

/** Loads the catalog, the current schemas and the schema-id map. */
export function loadSchemas(dir) {
  const catalog = JSON.parse(readFileSync(join(dir, "catalog.json"), "utf8"));
  const registry = JSON.parse(readFileSync(join(dir, "registry.json"), "utf8"));
  const canonical = new Map(); // type -> Parsing Canonical Form
  const byName = new Map(); // full record name -> reader type
  const byTopic = new Map(); // default topic -> catalog record
  for (const rec of catalog.records) {
    const json = JSON.parse(readFileSync(join(dir, rec.schema), "utf8"));
    const type = avro.Type.forSchema(json);
    canonical.set(type, canonicalForm(json));
    byName.set(type.name, type);
    byTopic.set(rec.topic, rec);
  }
  const writers = new Map(); // id -> writer type
  const byFingerprint = new Map(); // hex fingerprint -> writer type
  for (const { id, file } of registry.schemas) {
    const json = JSON.parse(readFileSync(join(dir, file), "utf8"));
    const type = avro.Type.forSchema(json);
    canonical.set(type, canonicalForm(json));
    writers.set(id, type);
    byFingerprint.set(fingerprint(canonical.get(type)).toString("hex"), type);
  }
  return { catalog, byName, byTopic, writers, byFingerprint, canonical };
}

/** A decoder for records of any framing; resolvers are cached. */
export function makeDecoder(s) {
  const resolvers = new Map();
  function read(writer, buf, off) {
    const reader = s.byName.get(writer.name);
    if (!reader) throw new Error(`no reader schema for ${writer.name}`);
    if (writer === reader) return reader.decode(buf, off).value;
    let r = resolvers.get(writer);
    if (!r) resolvers.set(writer, (r = reader.createResolver(writer)));
    const { value, offset } = reader.decode(buf, off, r);
    if (offset !== buf.length) throw new Error("trailing bytes");
    return value;
  }
  return function decode(buf, topicRecordName) {
    if (buf.length >= 5 && buf[0] === 0x00) {
      const w = s.writers.get(buf.readUInt32BE(1));
      if (!w) throw new Error(`unknown schema id ${buf.readUInt32BE(1)}`);
      return read(w, buf, 5);
    }
    if (buf.length >= 10 && buf[0] === 0xc3 && buf[1] === 0x01) {
      const w = s.byFingerprint.get(buf.subarray(2, 10).toString("hex"));
      if (!w) throw new Error("unknown schema fingerprint");
      return read(w, buf, 10);
    }
    const t = s.byName.get(topicRecordName);
    if (!t) throw new Error("bare record on a topic without a schema");
    const { value, offset } = t.decode(buf, 0);
    if (offset !== buf.length) throw new Error("trailing bytes");
    return value;
  };
}
