import { execFile, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { promisify } from "node:util";
import { create, createFileRegistry, type DescService, fromBinary } from "@bufbuild/protobuf";
import { type FileDescriptorProto, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import { Health, HealthCheckResponse_ServingStatus as Status } from "#gen/grpc/health/v1/health_pb.js";
import {
  ServerReflection as ServerReflectionV1,
  ServerReflectionRequestSchema as V1RequestSchema,
} from "#gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflection as ServerReflectionV1alpha,
  ServerReflectionRequestSchema as V1alphaRequestSchema,
} from "#gen/grpc/reflection/v1alpha/reflection_pb.js";
import { bearerToken } from "#lib/auth/client-credentials.ts";
import { createReadiness } from "#lib/host/health.ts";
import { type FrontDoor, startFrontDoor } from "#lib/rpc/front-door.ts";
import { registerGrpcHealth } from "#lib/rpc/grpc-health.ts";
import { serverInterceptors } from "#lib/rpc/interceptors.ts";
import { registerReflection } from "#lib/rpc/reflection.ts";
import { createRpcHandler } from "#lib/rpc/server.ts";
import { bearerFor, callerAs } from "#test/support/identity.ts";
import { ROOT } from "#test/support/service-process.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// Reflection and grpc.health.v1 over real sockets, driven by the tools people
// use (buf curl, grpcurl) and by Connect's own gRPC client. Reflection and
// Check are asked of the real inventory process (the service host registers
// them beside InventoryService). Readiness cannot be flipped from outside a
// process, so NOT_SERVING and Watch's changes are asked of a server built
// here the way the host builds one: the service, then registerReflection and
// registerGrpcHealth, behind the shared interceptor chain on the front door.
// Reflection is ops' (a map of every method is an attacker's first step):
// the tools send olivia's real token; health stays open, asked with none.
const run = promisify(execFile);
const BUF = path.join(ROOT, "node_modules/.bin/buf");
const SEED_SKU = `SEED-${randomUUID().slice(0, 12)}`;

let inventory: ServiceUnderTest<"inventory">;
let address: string;
let url: string;
/** No token: what health probes and anonymous callers send. */
let transport: Transport;
/** Olivia's (ops) token for the inventory audience on every call. */
let opsTransport: Transport;
let opsAuthorization: string;
let grpcurl: string;

let local: FrontDoor;
let localTransport: Transport;
let ready = true;
let readinessChecks = 0;
const shutdown = new AbortController();

async function startLocalServer(): Promise<FrontDoor> {
  const readiness = createReadiness({
    timeoutMs: 500,
    gate: () => (ready ? undefined : "flipped off by the test"),
  });
  readiness.add("counted", () => {
    readinessChecks += 1;
  });
  const handler = createRpcHandler({
    interceptors: serverInterceptors(),
    routes: (router: ConnectRouter) => {
      router.service(InventoryService, {
        getStock: (request) => ({ stock: { sku: request.sku, available: 7n, reserved: 1n } }),
      });
      registerReflection(router, [InventoryService]);
      registerGrpcHealth(router, readiness, { intervalMs: 100, signal: shutdown.signal });
    },
  });
  return startFrontDoor({ host: "127.0.0.1", port: 0, handler });
}

beforeAll(async () => {
  // Built once into .accord/cache by the script (go install), then reused.
  const built = run("bash", [path.join(ROOT, "scripts/grpcurl.sh"), "--path"], { cwd: ROOT });
  [inventory, local] = await Promise.all([
    startServiceUnderTest("inventory", { tag: "reflection", env: { INVENTORY_SEED_STOCK: `${SEED_SKU}=7` } }),
    startLocalServer(),
  ]);
  grpcurl = (await built).stdout.trim();
  address = `127.0.0.1:${inventory.port}`;
  url = inventory.url;
  transport = createGrpcTransport({ baseUrl: url });
  const ops = callerAs("olivia", "inventory");
  opsTransport = createGrpcTransport({ baseUrl: url, interceptors: [bearerToken(ops.tokens, ops.audience)] });
  opsAuthorization = await bearerFor("olivia", "inventory");
  localTransport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${local.port}` });
});

afterAll(async () => {
  shutdown.abort();
  await local?.close(0);
  await inventory?.stop();
});

/**
 * buf curl with the ops token as a header read from stdin (-H @-), sent on
 * the reflection requests too (--reflect-header '*'): the token never
 * appears in a command line.
 */
function bufCurl(args: string[]): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(BUF, ["curl", "-H", "@-", "--reflect-header", "*", ...args], { cwd: ROOT });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0
        ? resolve({ stdout })
        : reject(Object.assign(new Error(`buf curl exited ${code}`), { stderr })),
    );
    child.stdin.end(`authorization: ${opsAuthorization}\n`);
  });
}

/** grpcurl with an Authorization header named by an environment variable (-expand-headers), not by the token. */
function grpcurlWith(authorization: string, args: string[]) {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: grpcurl's own ${NAME} syntax, expanded by grpcurl
  const header = "authorization: ${ACCORD_TEST_BEARER}";
  return run(grpcurl, ["-expand-headers", "-H", header, ...args], {
    env: { ...process.env, ACCORD_TEST_BEARER: authorization },
  });
}

const grpcurlAsOps = (args: string[]) => grpcurlWith(opsAuthorization, args);

describe("buf curl, with no proto files, through reflection", () => {
  it("lists the service's methods (reflection v1)", async () => {
    const { stdout } = await bufCurl([
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--list-methods",
      url,
    ]);
    const methods = stdout.trim().split("\n");
    expect(methods).toEqual(
      expect.arrayContaining([
        "accord.inventory.v1.InventoryService/Reserve",
        "accord.inventory.v1.InventoryService/Release",
        "accord.inventory.v1.InventoryService/GetStock",
        "accord.inventory.v1.InventoryService/SetStock",
        "grpc.health.v1.Health/Check",
        "grpc.health.v1.Health/Watch",
        "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      ]),
    );
  });

  it("lists them through v1alpha as well", async () => {
    const { stdout } = await bufCurl([
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--reflect-protocol",
      "grpc-v1alpha",
      "--list-methods",
      url,
    ]);
    expect(stdout).toContain("accord.inventory.v1.InventoryService/Reserve");
  });

  it("calls a method with JSON, the schema coming from reflection", async () => {
    const { stdout } = await bufCurl([
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "-d",
      JSON.stringify({ sku: SEED_SKU }),
      `${url}/accord.inventory.v1.InventoryService/GetStock`,
    ]);
    expect(JSON.parse(stdout)).toMatchObject({ stock: { sku: SEED_SKU, available: "7" } });
  });
});

describe("grpcurl", () => {
  it("lists the service, health and reflection", async () => {
    const { stdout } = await grpcurlAsOps(["-plaintext", address, "list"]);
    const services = stdout.trim().split("\n");
    expect(services).toEqual(
      expect.arrayContaining([
        "accord.inventory.v1.InventoryService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ]),
    );
  });

  it("describes the service and a message from another file", async () => {
    const service = await grpcurlAsOps([
      "-plaintext",
      address,
      "describe",
      "accord.inventory.v1.InventoryService",
    ]);
    expect(service.stdout).toContain("accord.inventory.v1.InventoryService is a service");
    expect(service.stdout).toMatch(
      /rpc Reserve \( \.accord\.inventory\.v1\.ReserveRequest \) returns \( \.accord\.inventory\.v1\.ReserveResponse \)/,
    );
    // SkuQuantity lives in accord/common/v1/common.proto, an import.
    const message = await grpcurlAsOps(["-plaintext", address, "describe", "accord.common.v1.SkuQuantity"]);
    expect(message.stdout).toContain("accord.common.v1.SkuQuantity is a message");
  });

  it("fails for an unknown symbol", async () => {
    await expect(
      grpcurlAsOps(["-plaintext", address, "describe", "accord.nope.v1.Missing"]),
    ).rejects.toMatchObject({ stderr: expect.stringContaining("not found") });
  });

  it("is refused reflection without a token (unauthenticated) and with a customer's (permission denied)", async () => {
    await expect(run(grpcurl, ["-plaintext", address, "list"])).rejects.toMatchObject({
      stderr: expect.stringContaining("Unauthenticated"),
    });
    const customer = await bearerFor("alice", "inventory");
    await expect(grpcurlWith(customer, ["-plaintext", address, "list"])).rejects.toMatchObject({
      stderr: expect.stringContaining("PermissionDenied"),
    });
  });

  it("checks health with grpc.health.v1 and no token, as a probe does (schema from the proto file)", async () => {
    // A probe has no token, so it cannot use reflection (ops'): it knows health.proto, as grpc_health_probe does.
    const probe = [
      "-plaintext",
      "-import-path",
      path.join(ROOT, "proto"),
      "-proto",
      "grpc/health/v1/health.proto",
    ];
    const { stdout } = await run(grpcurl, [...probe, address, "grpc.health.v1.Health/Check"]);
    expect(JSON.parse(stdout)).toEqual({ status: "SERVING" });
    const service = await run(grpcurl, [
      ...probe,
      "-d",
      '{"service":"accord.inventory.v1.InventoryService"}',
      address,
      "grpc.health.v1.Health/Check",
    ]);
    expect(JSON.parse(service.stdout)).toEqual({ status: "SERVING" });
  });

  it("checks health with the schema from reflection as ops: the Check call itself goes without a token", async () => {
    // -reflect-header: the token is sent on the reflection requests only, not on Check.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: grpcurl's own ${NAME} syntax, expanded by grpcurl
    const header = "authorization: ${ACCORD_TEST_BEARER}";
    const { stdout } = await run(
      grpcurl,
      ["-expand-headers", "-reflect-header", header, "-plaintext", address, "grpc.health.v1.Health/Check"],
      { env: { ...process.env, ACCORD_TEST_BEARER: opsAuthorization } },
    );
    expect(JSON.parse(stdout)).toEqual({ status: "SERVING" });
  });
});

// The same questions to v1 and v1alpha through Connect's gRPC client: both
// are served from one index, so they must answer alike.
const versions = [
  { name: "v1", service: ServerReflectionV1, requestSchema: V1RequestSchema },
  { name: "v1alpha", service: ServerReflectionV1alpha, requestSchema: V1alphaRequestSchema },
] as const;

type Question = Parameters<typeof create<typeof V1RequestSchema>>[1];

/** Sends the questions on one stream (as ops unless told); returns the answers, each as the version's response. */
async function ask(
  version: (typeof versions)[number],
  questions: Question[],
  over: Transport = opsTransport,
) {
  const client = createClient(version.service as DescService, over) as unknown as {
    serverReflectionInfo(requests: AsyncIterable<unknown>): AsyncIterable<{
      validHost: string;
      originalRequest?: { $typeName: string; messageRequest: { case?: string } };
      messageResponse:
        | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
        | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
        | { case: "listServicesResponse"; value: { service: { name: string }[] } }
        | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } }
        | { case: undefined };
    }>;
  };
  async function* requests() {
    for (const question of questions) yield create(version.requestSchema, question as never);
  }
  const answers = [];
  for await (const answer of client.serverReflectionInfo(requests())) answers.push(answer);
  return answers;
}

function files(answer: Awaited<ReturnType<typeof ask>>[number]): FileDescriptorProto[] {
  if (answer.messageResponse.case !== "fileDescriptorResponse") {
    throw new Error(`expected files, got ${JSON.stringify(answer.messageResponse)}`);
  }
  return answer.messageResponse.value.fileDescriptorProto.map((bytes) =>
    fromBinary(FileDescriptorProtoSchema, bytes),
  );
}

describe.each(versions)("ServerReflectionInfo $name (Connect gRPC client)", (version) => {
  it("answers every question on one stream, in order", async () => {
    const answers = await ask(version, [
      { host: "h", messageRequest: { case: "listServices", value: "" } },
      {
        messageRequest: {
          case: "fileContainingSymbol",
          value: "accord.inventory.v1.InventoryService.Reserve",
        },
      },
      { messageRequest: { case: "fileByFilename", value: "accord/common/v1/common.proto" } },
      { messageRequest: { case: "fileContainingSymbol", value: "accord.nope.v1.Missing" } },
    ]);
    expect(answers).toHaveLength(4);
    const [list, symbol, byName, missing] = answers;

    expect(list?.validHost).toBe("h");
    expect(list?.originalRequest?.$typeName).toBe(`grpc.reflection.${version.name}.ServerReflectionRequest`);
    expect(list?.originalRequest?.messageRequest.case).toBe("listServices");
    expect(list?.messageResponse).toEqual({
      case: "listServicesResponse",
      value: expect.objectContaining({
        service: [
          expect.objectContaining({ name: "accord.inventory.v1.InventoryService" }),
          expect.objectContaining({ name: "grpc.health.v1.Health" }),
          expect.objectContaining({ name: "grpc.reflection.v1.ServerReflection" }),
          expect.objectContaining({ name: "grpc.reflection.v1alpha.ServerReflection" }),
        ],
      }),
    });

    // The file first, then its imports; together they form a complete registry.
    const found = files(symbol as NonNullable<typeof symbol>);
    expect(found.map((f) => f.name)).toEqual([
      "accord/inventory/v1/inventory.proto",
      "accord/common/v1/common.proto",
    ]);
    const [inventory] = found;
    const registry = createFileRegistry(inventory as FileDescriptorProto, (name) =>
      found.find((f) => f.name === name),
    );
    expect(registry.getService("accord.inventory.v1.InventoryService")?.methods.map((m) => m.name)).toEqual([
      "Reserve",
      "Release",
      "GetStock",
      "SetStock",
    ]);
    expect(registry.getMessage("accord.common.v1.SkuQuantity")).toBeDefined();

    expect(files(byName as NonNullable<typeof byName>).map((f) => f.name)).toEqual([
      "accord/common/v1/common.proto",
    ]);
    expect(missing?.messageResponse).toMatchObject({
      case: "errorResponse",
      value: { errorCode: Code.NotFound },
    });
  });

  it("refuses the stream without a token (unauthenticated) and with a customer's (permission denied)", async () => {
    const listServices: Question[] = [{ messageRequest: { case: "listServices", value: "" } }];
    const anonymous = await ask(version, listServices, transport).catch((e: unknown) => ConnectError.from(e));
    expect(anonymous).toMatchObject({ code: Code.Unauthenticated });
    const alice = callerAs("alice", "inventory");
    const customerTransport = createGrpcTransport({
      baseUrl: url,
      interceptors: [bearerToken(alice.tokens, alice.audience)],
    });
    const customer = await ask(version, listServices, customerTransport).catch((e: unknown) =>
      ConnectError.from(e),
    );
    expect(customer).toMatchObject({ code: Code.PermissionDenied });
  });

  it("finds messages, enums, fields and its own and health's files", async () => {
    const answers = await ask(version, [
      { messageRequest: { case: "fileContainingSymbol", value: "accord.inventory.v1.ReservationStatus" } },
      {
        messageRequest: {
          case: "fileContainingSymbol",
          value: "accord.inventory.v1.ReserveRequest.order_id",
        },
      },
      {
        messageRequest: {
          case: "fileContainingSymbol",
          value: "grpc.health.v1.HealthCheckResponse.ServingStatus",
        },
      },
      {
        messageRequest: {
          case: "fileContainingSymbol",
          value: `grpc.reflection.${version.name}.ServerReflection`,
        },
      },
    ]);
    expect(answers.map((a) => files(a)[0]?.name)).toEqual([
      "accord/inventory/v1/inventory.proto",
      "accord/inventory/v1/inventory.proto",
      "grpc/health/v1/health.proto",
      `grpc/reflection/${version.name}/reflection.proto`,
    ]);
  });

  it("answers extension questions: none are defined", async () => {
    const answers = await ask(version, [
      { messageRequest: { case: "allExtensionNumbersOfType", value: "accord.inventory.v1.ReserveRequest" } },
      { messageRequest: { case: "allExtensionNumbersOfType", value: "accord.nope.v1.Missing" } },
      {
        messageRequest: {
          case: "fileContainingExtension",
          value: { containingType: "accord.inventory.v1.ReserveRequest", extensionNumber: 100 },
        },
      },
      { messageRequest: { case: "fileByFilename", value: "no/such/file.proto" } },
    ]);
    expect(answers.map((a) => a.messageResponse)).toEqual([
      {
        case: "allExtensionNumbersResponse",
        value: expect.objectContaining({
          baseTypeName: "accord.inventory.v1.ReserveRequest",
          extensionNumber: [],
        }),
      },
      { case: "errorResponse", value: expect.objectContaining({ errorCode: Code.NotFound }) },
      { case: "errorResponse", value: expect.objectContaining({ errorCode: Code.NotFound }) },
      { case: "errorResponse", value: expect.objectContaining({ errorCode: Code.NotFound }) },
    ]);
  });
});

describe("grpc.health.v1.Health of the inventory process, asked with no token", () => {
  const health = () => createClient(Health, transport);

  it("Check: SERVING for the server and for its service, NotFound for another", async () => {
    expect((await health().check({ service: "" })).status).toBe(Status.SERVING);
    expect((await health().check({ service: "accord.inventory.v1.InventoryService" })).status).toBe(
      Status.SERVING,
    );
    const error = await health()
      .check({ service: "accord.orders.v1.OrderService" })
      .then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    expect(error?.code).toBe(Code.NotFound);
  });

  it("Watch: the current status at once", async () => {
    const client = new AbortController();
    const stream = health().watch({ service: "" }, { signal: client.signal })[Symbol.asyncIterator]();
    try {
      expect((await stream.next()).value?.status).toBe(Status.SERVING);
    } finally {
      client.abort();
    }
  });
});

describe("grpc.health.v1.Health with readiness flipped by the test", () => {
  const health = () => createClient(Health, localTransport);

  it("Check: SERVING when ready, NOT_SERVING when not, for the server and each service", async () => {
    ready = true;
    expect((await health().check({ service: "" })).status).toBe(Status.SERVING);
    expect((await health().check({ service: "accord.inventory.v1.InventoryService" })).status).toBe(
      Status.SERVING,
    );
    expect((await health().check({ service: "grpc.health.v1.Health" })).status).toBe(Status.SERVING);
    ready = false;
    try {
      expect((await health().check({ service: "" })).status).toBe(Status.NOT_SERVING);
      expect((await health().check({ service: "accord.inventory.v1.InventoryService" })).status).toBe(
        Status.NOT_SERVING,
      );
    } finally {
      ready = true;
    }
  });

  it("Check: NotFound for a service the server does not serve", async () => {
    const error = await health()
      .check({ service: "accord.nope.v1.Missing" })
      .then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    expect(error?.code).toBe(Code.NotFound);
  });

  it("Watch: the status at once, then each change; stops polling when the client goes away", async () => {
    ready = true;
    const client = new AbortController();
    const stream = health().watch({ service: "" }, { signal: client.signal })[Symbol.asyncIterator]();
    try {
      expect((await stream.next()).value?.status).toBe(Status.SERVING);
      ready = false;
      expect((await stream.next()).value?.status).toBe(Status.NOT_SERVING);
      ready = true;
      expect((await stream.next()).value?.status).toBe(Status.SERVING);
    } finally {
      ready = true;
      client.abort();
    }
    await expect(stream.next()).rejects.toThrow();
    // The server's loop ends with the client: readiness is no longer polled.
    await new Promise((r) => setTimeout(r, 300));
    const after = readinessChecks;
    await new Promise((r) => setTimeout(r, 500));
    expect(readinessChecks).toBe(after);
  });

  it("Watch: SERVICE_UNKNOWN for an unknown service, and the call stays open", async () => {
    const client = new AbortController();
    const stream = health().watch({ service: "accord.nope.v1.Missing" }, { signal: client.signal });
    const iterator = stream[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.status).toBe(Status.SERVICE_UNKNOWN);
    const next = iterator.next();
    const stillOpen = await Promise.race([
      next.then(
        () => false,
        () => false,
      ),
      new Promise((r) => setTimeout(() => r(true), 400)),
    ]);
    expect(stillOpen).toBe(true);
    client.abort();
    await next.catch(() => undefined);
  });
});

// Runs last: aborting the server's signal (the host's shutdown) ends every
// Watch stream, a watcher told SERVING being told NOT_SERVING first.
describe("grpc.health.v1.Health Watch at server shutdown", () => {
  it("says NOT_SERVING, then ends the stream, when the server's signal aborts", async () => {
    const received: Status[] = [];
    const watching = (async () => {
      for await (const message of createClient(Health, localTransport).watch({ service: "" })) {
        received.push(message.status);
        if (received.length === 1) shutdown.abort();
      }
    })();
    await expect(watching).resolves.toBeUndefined();
    expect(received).toEqual([Status.SERVING, Status.NOT_SERVING]);
  });
});

// Runs last, as it stops the process: SIGTERM closes readiness first, so a
// watcher hears NOT_SERVING while the process drains, and the open stream
// does not keep the process from exiting cleanly.
describe("the inventory process shutting down with a Watch open", () => {
  it("tells the watcher NOT_SERVING, and exits 0", async () => {
    const received: Status[] = [];
    const watching = (async () => {
      for await (const message of createClient(Health, transport).watch({ service: "" })) {
        received.push(message.status);
      }
    })().catch(() => undefined); // the stream may end with the connection
    await expect.poll(() => received).toEqual([Status.SERVING]);
    expect(await inventory.stop()).toBe(0);
    await watching;
    expect(received).toEqual([Status.SERVING, Status.NOT_SERVING]);
  });
});
