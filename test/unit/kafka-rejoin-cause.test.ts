import kafkajs from "kafkajs";
import { describe, expect, it } from "vitest";
import { rejoinCause } from "#lib/messaging/kafka.ts";

// kafkajs's own error classes, as its commitOffsets throws them (the closed
// connection's class is not in kafkajs's type declarations).
const { KafkaJSConnectionClosedError } = kafkajs as unknown as {
  KafkaJSConnectionClosedError: new (message: string, where: { host: string; port: number }) => Error;
};
// Its declared constructor takes no message; the brokers' pool passes one.
const brokerNotFound = (message: string) =>
  new (kafkajs.KafkaJSBrokerNotFound as unknown as new (message: string) => Error)(message);
const timedOut = {
  broker: "127.0.0.1:19094",
  clientId: "orchestrator",
  correlationId: 7,
  createdAt: 0,
  sentAt: 0,
  pendingDuration: 0,
};
const protocolError = (type: string, code: number) =>
  new kafkajs.KafkaJSProtocolError({ type, code, retriable: true, message: type } as unknown as Error);
const refused = () =>
  new kafkajs.KafkaJSConnectionError("Connection error: connect ECONNREFUSED 127.0.0.1:19094", {
    broker: "127.0.0.1:19094",
    code: "ECONNREFUSED",
  });

describe("rejoinCause: what a failed offset commit asks of the member", () => {
  it.each([
    ["UNKNOWN_MEMBER_ID", 25],
    ["ILLEGAL_GENERATION", 22],
    ["REBALANCE_IN_PROGRESS", 27],
    ["NOT_COORDINATOR_FOR_GROUP", 16],
  ])("gives back the coordinator's own %s, which the runner answers by rejoining", (type, code) => {
    const error = protocolError(type, code);
    expect(rejoinCause(error)).toBe(error);
  });

  it("finds the refusal under the error kafkajs wrapped it in", () => {
    const error = protocolError("ILLEGAL_GENERATION", 22);
    const wrapped = Object.assign(new Error("commit failed"), { cause: error });
    expect(rejoinCause(wrapped)).toBe(error);
  });

  it.each([
    ["a refused connection", refused()],
    [
      "a dropped one",
      new KafkaJSConnectionClosedError("Closed connection", { host: "127.0.0.1", port: 19094 }),
    ],
    [
      "a request that timed out",
      new kafkajs.KafkaJSRequestTimeoutError("Request OffsetCommit timed out", timedOut),
    ],
    ["an unavailable coordinator", protocolError("GROUP_COORDINATOR_NOT_AVAILABLE", 15)],
    ["a coordinator gone from the metadata", brokerNotFound("Broker 3 not found in the cached metadata")],
    [
      "a refused connection after kafkajs's retries",
      new kafkajs.KafkaJSNumberOfRetriesExceeded(refused(), { retryCount: 5, retryTime: 500 }),
    ],
  ])(
    "turns %s to the coordinator into NOT_COORDINATOR_FOR_GROUP, so the rejoin looks it up again",
    (_, error) => {
      const rejoin = rejoinCause(error);
      expect(rejoin).toBeInstanceOf(kafkajs.KafkaJSProtocolError);
      expect(rejoin?.type).toBe("NOT_COORDINATOR_FOR_GROUP");
      expect(rejoin?.message).toMatch(
        /^the group coordinator did not take the commit \(.+\); finding it again$/,
      );
    },
  );

  it.each([
    [
      "a coordinator still loading the group (its own retry is the answer)",
      protocolError("GROUP_LOAD_IN_PROGRESS", 14),
    ],
    ["an ACL refusal", protocolError("GROUP_AUTHORIZATION_FAILED", 30)],
    ["an error that is not Kafka's", new Error("handler failed")],
    ["nothing at all", undefined],
  ])("leaves %s to kafkajs", (_, error) => {
    expect(rejoinCause(error)).toBeUndefined();
  });
});
