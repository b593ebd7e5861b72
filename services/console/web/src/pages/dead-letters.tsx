import { type ReactNode, useState } from "react";
import {
  type DeadLetter,
  type DeadLetterQueue,
  DeadLetterQueueKind,
} from "#gen/accord/notifications/v1/dead_letters_pb.js";
import { ConfirmDialog } from "../components/confirm-dialog.tsx";
import { Modal } from "../components/modal.tsx";
import { Empty, QueryView } from "../components/states.tsx";
import { formatTime } from "../format.ts";
import { href } from "../router.ts";
import type { Clients } from "../rpc.ts";
import { useQuery } from "../use-query.ts";

export function DeadLettersPage({ clients, queue }: { clients: Clients; queue: string | undefined }) {
  const queues = useQuery(
    async (signal) => (await clients.deadLetters.listDeadLetterQueues({}, { signal })).queues,
    [],
    5_000,
  );
  return (
    <section aria-labelledby="dlq-title">
      <h1 id="dlq-title">Dead letters</h1>
      <QueryView query={queues} what="the dead-letter queues">
        {(list) =>
          list.length === 0 ? (
            <Empty>No dead-letter queue is known.</Empty>
          ) : (
            <table className="queues">
              <caption className="sr-only">Dead-letter queues and topics</caption>
              <thead>
                <tr>
                  <th scope="col">Queue</th>
                  <th scope="col">Broker</th>
                  <th scope="col">Address</th>
                  <th scope="col">Depth</th>
                  <th scope="col">Messages</th>
                </tr>
              </thead>
              <tbody>
                {list.map((q) => (
                  <QueueRow key={`${q.kind}/${q.name}`} queue={q} selected={q.name === queue} />
                ))}
              </tbody>
            </table>
          )
        }
      </QueryView>
      {queue && <QueueMessages clients={clients} queue={queue} />}
    </section>
  );
}

function QueueRow({ queue, selected }: { queue: DeadLetterQueue; selected: boolean }) {
  return (
    <tr className={selected ? "selected" : undefined} data-queue={queue.name}>
      <th scope="row">{queue.name}</th>
      <td>{queue.kind === DeadLetterQueueKind.KAFKA ? "Kafka" : "RabbitMQ"}</td>
      <td>
        <code>{queue.address}</code>
      </td>
      <td>{queue.error ? <span className="warn">unknown: {queue.error}</span> : String(queue.depth)}</td>
      <td>
        {queue.replayable ? (
          <a
            href={href({ page: "dead-letters", queue: queue.name })}
            aria-current={selected ? "page" : undefined}
          >
            Show messages
          </a>
        ) : (
          "depth only"
        )}
      </td>
    </tr>
  );
}

type Pending = { kind: "one"; message: DeadLetter } | { kind: "all"; depth: bigint };

function QueueMessages({ clients, queue }: { clients: Clients; queue: string }) {
  const [inspected, setInspected] = useState<DeadLetter | undefined>();
  const [pending, setPending] = useState<Pending | undefined>();
  const [notice, setNotice] = useState("");
  const messages = useQuery(
    (signal) => clients.deadLetters.listDeadLetters({ queue, limit: 100 }, { signal }),
    [queue],
    5_000,
  );

  const replay = async (request: { messageIds: string[] } | { all: true }) => {
    const answer = await clients.deadLetters.replayDeadLetters({ queue, ...request });
    const missing = answer.notFoundIds.length
      ? `; not in the queue any more: ${answer.notFoundIds.join(", ")}`
      : "";
    setNotice(`Replayed ${answer.replayedIds.length} message(s)${missing}.`);
    messages.reload();
  };

  return (
    <section aria-labelledby="messages-title">
      <h2 id="messages-title">
        Messages in <code>{queue}</code>
      </h2>
      {notice && (
        <p className="state notice" role="status">
          {notice}
        </p>
      )}
      <QueryView query={messages} what="the dead letters">
        {(answer) =>
          answer.deadLetters.length === 0 ? (
            <Empty>This queue is empty: nothing was dead-lettered.</Empty>
          ) : (
            <>
              <p>
                {String(answer.depth)} message(s) in the queue.{" "}
                <button type="button" onClick={() => setPending({ kind: "all", depth: answer.depth })}>
                  Replay all…
                </button>
              </p>
              <table className="dead-letters">
                <thead>
                  <tr>
                    <th scope="col">Message</th>
                    <th scope="col">Reason</th>
                    <th scope="col">Attempts</th>
                    <th scope="col">Event</th>
                    <th scope="col">Order</th>
                    <th scope="col">Dead-lettered</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {answer.deadLetters.map((m) => (
                    <tr key={m.messageId} data-message-id={m.messageId} data-order-id={m.orderId}>
                      <td>
                        <code>{m.messageId}</code>
                      </td>
                      <td>{m.reason}</td>
                      <td>{m.attempts}</td>
                      <td>{m.eventType || "–"}</td>
                      <td>
                        {m.orderId ? (
                          <a href={href({ page: "order", orderId: m.orderId })}>{m.orderId}</a>
                        ) : (
                          "–"
                        )}
                      </td>
                      <td>{formatTime(m.firstDeathAt)}</td>
                      <td className="row-actions">
                        <button type="button" onClick={() => setInspected(m)}>
                          Inspect
                        </button>
                        <button type="button" onClick={() => setPending({ kind: "one", message: m })}>
                          Replay…
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )
        }
      </QueryView>
      {inspected && <Inspect message={inspected} onClose={() => setInspected(undefined)} />}
      {pending?.kind === "one" && (
        <ConfirmDialog
          title="Replay this message?"
          confirmLabel="Replay"
          onClose={() => setPending(undefined)}
          onConfirm={() => replay({ messageIds: [pending.message.messageId] })}
        >
          <p>
            Message <code>{pending.message.messageId}</code> goes back to <code>{queue}</code> with its
            attempts reset.
          </p>
        </ConfirmDialog>
      )}
      {pending?.kind === "all" && (
        <ConfirmDialog
          title={`Replay every message in ${queue}?`}
          confirmLabel="Replay all"
          onClose={() => setPending(undefined)}
          onConfirm={() => replay({ all: true })}
        >
          <p>The {String(pending.depth)} message(s) the queue holds now go back to their work queue.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}

function Inspect({ message, onClose }: { message: DeadLetter; onClose: () => void }) {
  const rows: [string, string][] = [
    ["Message id", message.messageId],
    ["Reason", message.reason],
    ["Attempts", String(message.attempts)],
    ["Routing key", message.routingKey],
    ["First dead-lettered", formatTime(message.firstDeathAt)],
    ["Size", `${message.sizeBytes} bytes`],
    ["Order", message.orderId || "–"],
    ["Event id", message.eventId || "–"],
    ["Event type", message.eventType || "–"],
    ["Webhook subscription", message.subscriptionId || "–"],
  ];
  return (
    <InspectDialog title="Dead-lettered message" onClose={onClose}>
      <dl className="facts">
        {rows.map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
    </InspectDialog>
  );
}

function InspectDialog({
  title,
  children,
  onClose,
}: {
  title: string;
  children: ReactNode;
  onClose: () => void;
}) {
  return (
    <Modal label={title} onClose={onClose}>
      <h2>{title}</h2>
      {children}
      <div className="actions">
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </Modal>
  );
}
