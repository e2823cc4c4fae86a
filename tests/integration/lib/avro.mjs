// Avro encoding with avsc, independent of roomcast's codec: bare binary,
// single-object encoding (fingerprint computed here with CRC-64-AVRO over
// avsc's Parsing Canonical Form) and the Confluent wire format.
import fs from "node:fs";
import path from "node:path";
import avro from "avsc";
import { SOURCE_DIR } from "./fixtures.mjs";

const EMPTY = 0xc15d213aa4d7a795n;
const TABLE = (() => {
  const t = [];
  for (let i = 0n; i < 256n; i++) {
    let fp = i;
    for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n));
    t.push(fp);
  }
  return t;
})();

export function crc64avro(buf) {
  let fp = EMPTY;
  for (const b of buf) fp = (fp >> 8n) ^ TABLE[Number((fp ^ BigInt(b)) & 0xffn)];
  return fp;
}

export function loadType(file) {
  return avro.Type.forSchema(JSON.parse(fs.readFileSync(path.join(SOURCE_DIR, "schemas", file), "utf8")));
}

// Avro JSON-ish (plain values for unions) -> avsc value: avsc wants plain
// values too with wrapUnions off, which is its default for ["null", T].
export function encode(type, record, framing, schemaId) {
  const body = type.toBuffer(record);
  if (framing === "bare") return body;
  if (framing === "single-object") {
    const fp = crc64avro(Buffer.from(JSON.stringify(type.schema())));
    const head = Buffer.alloc(10);
    head[0] = 0xc3;
    head[1] = 0x01;
    head.writeBigUInt64LE(fp, 2);
    return Buffer.concat([head, body]);
  }
  if (framing === "confluent") {
    const head = Buffer.alloc(5);
    head.writeUInt32BE(schemaId, 1);
    return Buffer.concat([head, body]);
  }
  throw new Error(`unknown framing ${framing}`);
}
