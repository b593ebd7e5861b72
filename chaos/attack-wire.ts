import http2 from "node:http2";
import { create, type DescMessage, type DescMethod, fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";

/**
 * Raw RPCs for the attack suite: the request exactly as an attacker would
 * send it (any Authorization header, or none), over Connect JSON on HTTP/1.1
 * (the host's unary fast path), gRPC on HTTP/2 or gRPC-Web on HTTP/1.1
 * (connect-node's adapter), and the answer as status, Connect code and body.
 * No client library in between, so nothing adds, fixes or refuses a header
 * before the server sees it.
 */

export type Wire = "connect" | "grpc" | "grpc-web";

export interface Answer {
  /** HTTP status (0: no HTTP answer at all). */
  status: number;
  /** "ok", a Connect code name (unauthenticated, permission_denied, ...), or "http <status>" / "stream error". */
  code: string;
  message: string;
  /** The response message as Connect JSON, when the call succeeded. */
  json?: unknown;
}

const TIMEOUT_MS = 15_000;

/** Connect's code name for a numeric code (gRPC status numbers are the same). */
export function codeName(code: number): string {
  const name = Code[code];
  return name === undefined ? `code ${code}` : name.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

export function describeAnswer(a: Answer): string {
  const message = a.message ? `: ${a.message.slice(0, 120)}` : "";
  const status = a.status === 0 ? "" : ` (HTTP ${a.status})`;
  return `${a.code}${status}${a.code === "ok" ? "" : message}`;
}

export async function call(
  baseUrl: string,
  method: DescMethod,
  input: Record<string, unknown>,
  authorization: string | undefined,
  wire: Wire = "connect",
): Promise<Answer> {
  const path = `/${method.parent.typeName}/${method.name}`;
  const message = create(method.input as DescMessage, input as never);
  if (wire === "connect") {
    return connectUnary(`${baseUrl}${path}`, JSON.stringify(toJson(method.input, message)), authorization);
  }
  const bytes = toBinary(method.input, message);
  const answer =
    wire === "grpc"
      ? await grpcCall(baseUrl, path, bytes, authorization)
      : await grpcWebCall(`${baseUrl}${path}`, bytes, authorization);
  const { first, ...rest } = answer;
  if (answer.code === "ok" && first !== undefined) {
    return { ...rest, json: toJson(method.output, fromBinary(method.output, first)) };
  }
  return rest;
}

async function connectUnary(url: string, body: string, authorization: string | undefined): Promise<Answer> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (authorization !== undefined) headers.authorization = authorization;
  let res: Response;
  try {
    res = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (error) {
    return { status: 0, code: "no answer", message: String((error as Error).cause ?? error) };
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { status: res.status, code: `http ${res.status}`, message: text.slice(0, 120) };
  }
  if (res.status === 200) return { status: 200, code: "ok", message: "", json: parsed };
  const error = parsed as { code?: string; message?: string };
  return { status: res.status, code: error.code ?? `http ${res.status}`, message: error.message ?? "" };
}

function frame(flags: number, payload: Uint8Array): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(flags, 0);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** Splits a gRPC body into its length-prefixed frames. */
function frames(body: Buffer): { flags: number; payload: Buffer }[] {
  const out: { flags: number; payload: Buffer }[] = [];
  let at = 0;
  while (at + 5 <= body.length) {
    const length = body.readUInt32BE(at + 1);
    out.push({ flags: body.readUInt8(at), payload: body.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return out;
}

type RawAnswer = Answer & { first?: Uint8Array };

function grpcCall(
  baseUrl: string,
  path: string,
  body: Uint8Array,
  authorization: string | undefined,
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const session = http2.connect(baseUrl);
    let status = 0;
    let grpcStatus: string | undefined;
    let grpcMessage = "";
    const chunks: Buffer[] = [];
    const finish = (answer: RawAnswer) => {
      clearTimeout(timer);
      session.close();
      resolve(answer);
    };
    const timer = setTimeout(
      () => finish({ status, code: "timeout", message: `no answer in ${TIMEOUT_MS} ms` }),
      TIMEOUT_MS,
    );
    session.on("error", (error) => finish({ status, code: "stream error", message: error.message }));
    const headers: http2.OutgoingHttpHeaders = {
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
    };
    if (authorization !== undefined) headers.authorization = authorization;
    let req: http2.ClientHttp2Stream;
    try {
      req = session.request(headers);
    } catch (error) {
      finish({ status: 0, code: "stream error", message: (error as Error).message });
      return;
    }
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) {
        grpcStatus = String(h["grpc-status"]);
        grpcMessage = decodeURIComponent(String(h["grpc-message"] ?? ""));
      }
    };
    req.on("response", (h) => {
      status = Number(h[":status"] ?? 0);
      take(h);
    });
    req.on("trailers", take);
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("error", (error) => finish({ status, code: "stream error", message: error.message }));
    req.on("close", () => {
      if (grpcStatus === undefined) {
        finish({ status, code: status === 0 ? "stream error" : `http ${status}`, message: "no grpc-status" });
        return;
      }
      const code = grpcStatus === "0" ? "ok" : codeName(Number(grpcStatus));
      finish({ status, code, message: grpcMessage, first: frames(Buffer.concat(chunks))[0]?.payload });
    });
    req.end(frame(0, body));
  });
}

async function grpcWebCall(
  url: string,
  body: Uint8Array,
  authorization: string | undefined,
): Promise<RawAnswer> {
  const headers: Record<string, string> = { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" };
  if (authorization !== undefined) headers.authorization = authorization;
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers,
      body: frame(0, body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    return { status: 0, code: "no answer", message: String((error as Error).cause ?? error) };
  }
  const bytes = Buffer.from(await res.arrayBuffer());
  let grpcStatus = res.headers.get("grpc-status") ?? undefined;
  let grpcMessage = decodeURIComponent(res.headers.get("grpc-message") ?? "");
  const parts = frames(bytes);
  const trailer = parts.find((f) => (f.flags & 0x80) !== 0);
  if (trailer !== undefined) {
    for (const line of trailer.payload.toString("utf8").split("\r\n")) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === "grpc-status") grpcStatus = value;
      if (name === "grpc-message") grpcMessage = decodeURIComponent(value);
    }
  }
  if (grpcStatus === undefined)
    return { status: res.status, code: `http ${res.status}`, message: "no grpc-status" };
  const code = grpcStatus === "0" ? "ok" : codeName(Number(grpcStatus));
  return { status: res.status, code, message: grpcMessage, first: parts.find((f) => f.flags === 0)?.payload };
}
