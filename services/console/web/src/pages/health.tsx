import { Empty, QueryView } from "../components/states.tsx";
import { formatTime } from "../format.ts";
import type { Clients } from "../rpc.ts";
import { useQuery } from "../use-query.ts";

/** Every process's readiness and Prometheus' gauges, refreshed every 5 s. */
export function HealthPage({ clients }: { clients: Clients }) {
  const health = useQuery((signal) => clients.console.getPlatformHealth({}, { signal }), [], 5_000);
  return (
    <section aria-labelledby="health-title">
      <h1 id="health-title">Health</h1>
      <QueryView query={health} what="the platform's health">
        {(h) => (
          <>
            <p className="live">Read at {formatTime(h.readAt)}; refreshed every 5 s.</p>
            {h.errors.length > 0 && (
              <div className="state error" role="alert">
                <p>
                  <strong>Some sources could not be read:</strong>
                </p>
                <ul>
                  {h.errors.map((e) => (
                    <li key={e}>{e}</li>
                  ))}
                </ul>
              </div>
            )}
            <h2>Processes</h2>
            {h.processes.length === 0 ? (
              <Empty>No process is watched.</Empty>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th scope="col">Process</th>
                    <th scope="col">Ready</th>
                    <th scope="col">Why not</th>
                    <th scope="col">Scraped by Prometheus</th>
                    <th scope="col">Address</th>
                  </tr>
                </thead>
                <tbody>
                  {h.processes.map((p) => (
                    <tr key={p.name} data-process={p.name}>
                      <th scope="row">{p.name}</th>
                      <td className={p.ready ? "ok" : "bad"}>{p.ready ? "ready" : "not ready"}</td>
                      <td>{p.reason || "–"}</td>
                      <td>{p.scraped ? "yes" : "no"}</td>
                      <td>
                        <code>{p.url}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            <div className="columns">
              <section aria-labelledby="breakers-title">
                <h2 id="breakers-title">Circuit breakers</h2>
                {h.breakers.length === 0 ? (
                  <Empty>Prometheus has no breaker state yet.</Empty>
                ) : (
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Process</th>
                        <th scope="col">Breaker</th>
                        <th scope="col">State</th>
                      </tr>
                    </thead>
                    <tbody>
                      {h.breakers.map((b) => (
                        <tr key={`${b.service}/${b.breaker}`}>
                          <td>{b.service}</td>
                          <td>{b.breaker}</td>
                          <td className={b.state === "closed" ? "ok" : "bad"}>{b.state}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              </section>
              <section aria-labelledby="outbox-title">
                <h2 id="outbox-title">Outbox backlog</h2>
                {h.outbox.length === 0 ? (
                  <Empty>No outbox reported.</Empty>
                ) : (
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Process</th>
                        <th scope="col">Unpublished rows</th>
                        <th scope="col">Oldest waiting</th>
                      </tr>
                    </thead>
                    <tbody>
                      {h.outbox.map((o) => (
                        <tr key={o.service}>
                          <td>{o.service}</td>
                          <td>{String(o.unpublished)}</td>
                          <td>{o.oldestAgeSeconds.toFixed(1)} s</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              </section>
            </div>
            <div className="columns">
              <section aria-labelledby="lag-title">
                <h2 id="lag-title">Consumer lag</h2>
                {h.consumerLag.length === 0 ? (
                  <Empty>No consumer lag reported.</Empty>
                ) : (
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Process</th>
                        <th scope="col">Group</th>
                        <th scope="col">Topic</th>
                        <th scope="col">Behind</th>
                      </tr>
                    </thead>
                    <tbody>
                      {h.consumerLag.map((l) => (
                        <tr key={`${l.group}/${l.topic}`}>
                          <td>{l.service}</td>
                          <td>{l.group}</td>
                          <td>{l.topic}</td>
                          <td>{String(l.lag)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              </section>
              <section aria-labelledby="dlq-depth-title">
                <h2 id="dlq-depth-title">Dead-letter depth</h2>
                {h.deadLetters.length === 0 ? (
                  <Empty>No dead-letter depth reported.</Empty>
                ) : (
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Broker</th>
                        <th scope="col">Queue or topic</th>
                        <th scope="col">Messages</th>
                      </tr>
                    </thead>
                    <tbody>
                      {h.deadLetters.map((d) => (
                        <tr key={`${d.broker}/${d.name}`}>
                          <td>{d.broker}</td>
                          <td>{d.name}</td>
                          <td className={d.depth > 0n ? "bad" : "ok"}>{String(d.depth)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              </section>
            </div>
          </>
        )}
      </QueryView>
    </section>
  );
}
