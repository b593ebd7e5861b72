import {
  create,
  createFileRegistry,
  type DescFile,
  type DescService,
  type FileRegistry,
  toBinary,
} from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { Health } from "#gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ServerReflectionV1 } from "#gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "#gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { AuthorizationTable } from "../auth/authorization.ts";

/** grpc status codes used in error_response (the reflection protocol carries them as int32). */
const INVALID_ARGUMENT = 3;
const NOT_FOUND = 5;

/**
 * Everything the reflection service answers from, built once: the files of
 * the served services and their transitive imports in one protobuf-es file
 * registry, every fully qualified symbol mapped to its file, and each file's
 * answer (itself and its transitive imports, serialized) computed in advance.
 */
export interface ReflectionIndex {
  /** Fully qualified names of the services served, in registration order. */
  readonly services: readonly string[];
  /** The registry every answer comes from. */
  readonly registry: FileRegistry;
  /** The file named (e.g. "accord/common/v1/common.proto") with its imports, or undefined. */
  fileByFilename(name: string): Uint8Array[] | undefined;
  /** The file defining a service, method, message, field, oneof, enum, enum value or extension. */
  fileContainingSymbol(symbol: string): Uint8Array[] | undefined;
  /** The file defining extension `number` of message `containingType`. */
  fileContainingExtension(containingType: string, number: number): Uint8Array[] | undefined;
  /** The known extension numbers of a message, ascending; undefined when the message is unknown. */
  extensionNumbersOf(typeName: string): number[] | undefined;
}

export interface ReflectionOptions {
  /**
   * Also list grpc.health.v1.Health (and index its file). True by default:
   * the service host registers it beside reflection.
   */
  health?: boolean;
}

/** The reflection services themselves, listed and indexed beside the served ones. */
const REFLECTION_SERVICES: DescService[] = [ServerReflectionV1, ServerReflectionV1alpha];

export function createReflectionIndex(
  services: DescService[],
  options: ReflectionOptions = {},
): ReflectionIndex {
  const served = [...services, ...(options.health === false ? [] : [Health]), ...REFLECTION_SERVICES];
  const names = [...new Set(served.map((s) => s.typeName))];

  // The files in import order (each after its imports), which is what a
  // FileDescriptorSet needs to become a registry. First file of a name wins.
  const ordered: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile) => {
    const name = file.proto.name;
    if (seen.has(name)) return;
    seen.add(name);
    for (const dependency of file.dependencies) visit(dependency);
    ordered.push(file);
  };
  for (const service of served) visit(service.file);
  const registry = createFileRegistry(
    create(FileDescriptorSetSchema, { file: ordered.map((file) => file.proto) }),
  );

  const symbols = new Map<string, DescFile>();
  const extensionNumbers = new Map<string, number[]>();
  for (const file of registry.files) {
    for (const type of nestedTypes(file)) {
      symbols.set(type.typeName, file);
      switch (type.kind) {
        case "message":
          for (const field of type.fields) symbols.set(`${type.typeName}.${field.name}`, file);
          for (const oneof of type.oneofs) symbols.set(`${type.typeName}.${oneof.name}`, file);
          break;
        case "enum": {
          // Enum values are scoped beside their enum, not inside it (C++ scoping rules).
          const scope = type.typeName.slice(0, Math.max(0, type.typeName.lastIndexOf(".")));
          for (const value of type.values) symbols.set(scope ? `${scope}.${value.name}` : value.name, file);
          break;
        }
        case "service":
          for (const method of type.methods) symbols.set(`${type.typeName}.${method.name}`, file);
          break;
        case "extension": {
          const numbers = extensionNumbers.get(type.extendee.typeName) ?? [];
          numbers.push(type.number);
          extensionNumbers.set(type.extendee.typeName, numbers);
          break;
        }
      }
    }
  }

  // Each answer: the file first, then its transitive imports (breadth first).
  const serialized = new Map<DescFile, Uint8Array>();
  const bytesOf = (file: DescFile) => {
    let bytes = serialized.get(file);
    if (bytes === undefined) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      serialized.set(file, bytes);
    }
    return bytes;
  };
  const answers = new Map<DescFile, Uint8Array[]>();
  for (const file of registry.files) {
    const closure: DescFile[] = [file];
    for (let i = 0; i < closure.length; i++) {
      for (const dependency of (closure[i] as DescFile).dependencies) {
        if (!closure.includes(dependency)) closure.push(dependency);
      }
    }
    answers.set(file, closure.map(bytesOf));
  }
  const answerFor = (file: DescFile | undefined) => (file === undefined ? undefined : answers.get(file));

  return {
    services: names,
    registry,
    fileByFilename: (name) => answerFor(registry.getFile(name)),
    fileContainingSymbol: (symbol) => answerFor(symbols.get(withoutLeadingDot(symbol))),
    fileContainingExtension(containingType, number) {
      const extendee = registry.getMessage(withoutLeadingDot(containingType));
      const extension = extendee && registry.getExtensionFor(extendee, number);
      return answerFor(extension?.file);
    },
    extensionNumbersOf(typeName) {
      const name = withoutLeadingDot(typeName);
      if (registry.getMessage(name) === undefined) return undefined;
      return [...(extensionNumbers.get(name) ?? [])].sort((a, b) => a - b);
    },
  };
}

function withoutLeadingDot(name: string): string {
  return name.startsWith(".") ? name.slice(1) : name;
}

/** A reflection request's question, the same shape in v1 and v1alpha. */
export type ReflectionQuestion =
  | { case: "fileByFilename"; value: string }
  | { case: "fileContainingSymbol"; value: string }
  | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
  | { case: "allExtensionNumbersOfType"; value: string }
  | { case: "listServices"; value: string }
  | { case: undefined; value?: undefined };

/** A reflection response's answer, the same shape in v1 and v1alpha. */
export type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** Answers one question; an unknown name gets error_response NOT_FOUND. */
export function answerQuestion(index: ReflectionIndex, question: ReflectionQuestion): ReflectionAnswer {
  const files = (found: Uint8Array[] | undefined, what: string): ReflectionAnswer =>
    found === undefined
      ? notFound(what)
      : { case: "fileDescriptorResponse", value: { fileDescriptorProto: found } };
  switch (question.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: index.services.map((name) => ({ name })) } };
    case "fileByFilename":
      return files(index.fileByFilename(question.value), `file "${question.value}"`);
    case "fileContainingSymbol":
      return files(index.fileContainingSymbol(question.value), `symbol "${question.value}"`);
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = question.value;
      return files(
        index.fileContainingExtension(containingType, extensionNumber),
        `extension ${extensionNumber} of "${containingType}"`,
      );
    }
    case "allExtensionNumbersOfType": {
      const numbers = index.extensionNumbersOf(question.value);
      if (numbers === undefined) return notFound(`message type "${question.value}"`);
      return {
        case: "allExtensionNumbersResponse",
        value: { baseTypeName: withoutLeadingDot(question.value), extensionNumber: numbers },
      };
    }
    default:
      return {
        case: "errorResponse",
        value: {
          errorCode: INVALID_ARGUMENT,
          errorMessage: "the request asks nothing (message_request unset)",
        },
      };
  }
}

function notFound(what: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode: NOT_FOUND, errorMessage: `${what} not found` } };
}

/** One answer per request, in order, until the client half-closes. */
async function* answerAll<R extends { host: string; messageRequest: ReflectionQuestion }>(
  index: ReflectionIndex,
  requests: AsyncIterable<R>,
): AsyncIterable<{ validHost: string; originalRequest: R; messageResponse: ReflectionAnswer }> {
  for await (const request of requests) {
    yield {
      validHost: request.host,
      originalRequest: request,
      messageResponse: answerQuestion(index, request.messageRequest),
    };
  }
}

/**
 * Serves gRPC server reflection, grpc.reflection.v1 and its predecessor
 * v1alpha from the same index, so grpcurl, buf curl and similar tools can
 * list and call the services without proto files. The index is built here,
 * once; register after the services it describes.
 */
export function registerReflection(
  router: ConnectRouter,
  services: DescService[],
  options: ReflectionOptions = {},
): void {
  const index = createReflectionIndex(services, options);
  router.service(ServerReflectionV1, { serverReflectionInfo: (requests) => answerAll(index, requests) });
  router.service(ServerReflectionV1alpha, { serverReflectionInfo: (requests) => answerAll(index, requests) });
}

/**
 * Reflection lists every method and message of a process: an operator's
 * tool, not a customer's, so it needs an ops token (grpcurl -H "authorization: Bearer ...").
 */
export const reflectionAuthorization: {
  v1: AuthorizationTable<typeof ServerReflectionV1>;
  v1alpha: AuthorizationTable<typeof ServerReflectionV1alpha>;
} = {
  v1: { serverReflectionInfo: { allow: ["ops"] } },
  v1alpha: { serverReflectionInfo: { allow: ["ops"] } },
};
