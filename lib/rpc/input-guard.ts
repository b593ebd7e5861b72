import type { DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/**
 * Path of the first string field holding a NUL character, in proto field
 * names (lines[0].sku), or undefined. PostgreSQL cannot store NUL in text, so
 * such input would otherwise fail deep inside a handler as an internal error.
 */
export function findNulString(desc: DescMessage, message: unknown, path = ""): string | undefined {
  if (message === null || typeof message !== "object") return undefined;
  const record = message as Record<string, unknown>;
  for (const field of desc.fields) {
    const name = path ? `${path}.${field.name}` : field.name;
    let value: unknown;
    if (field.oneof) {
      const chosen = record[field.oneof.localName] as { case?: string; value?: unknown } | undefined;
      if (chosen?.case !== field.localName) continue;
      value = chosen.value;
    } else {
      value = record[field.localName];
    }
    const found = findInValue(field, value, name);
    if (found) return found;
  }
  return undefined;
}

type Field = DescMessage["fields"][number];

function findInValue(field: Field, value: unknown, name: string): string | undefined {
  switch (field.fieldKind) {
    case "scalar":
      return typeof value === "string" && value.includes("\0") ? name : undefined;
    case "message":
      return findNulString(field.message, value, name);
    case "list": {
      if (!Array.isArray(value)) return undefined;
      for (const [i, item] of value.entries()) {
        const at = `${name}[${i}]`;
        if (field.listKind === "scalar" && typeof item === "string" && item.includes("\0")) return at;
        if (field.listKind === "message") {
          const found = findNulString(field.message, item, at);
          if (found) return found;
        }
      }
      return undefined;
    }
    case "map": {
      if (value === null || typeof value !== "object") return undefined;
      for (const [key, item] of Object.entries(value)) {
        const at = `${name}[${JSON.stringify(key)}]`;
        if (key.includes("\0")) return at;
        if (field.mapKind === "scalar" && typeof item === "string" && item.includes("\0")) return at;
        if (field.mapKind === "message") {
          const found = findNulString(field.message, item, at);
          if (found) return found;
        }
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/** Rejects any request with a NUL character in a string field: InvalidArgument naming the field. */
export const rejectNulStrings: Interceptor = (next) => async (req) => {
  if (!req.stream) {
    const field = findNulString(req.method.input, req.message);
    if (field) throw new ConnectError(`${field}: must not contain NUL characters`, Code.InvalidArgument);
  }
  return next(req);
};
