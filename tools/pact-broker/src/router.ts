import { badRequest, type Reply } from "./http-util.ts";

// A small router whose patterns type their handlers: the names of the ":name"
// segments of "/pacticipants/:pacticipant/versions/:version" become the keys
// of `params` at compile time, so a handler reads params.version as a string
// and a typo in a name does not compile.

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

type SegmentParam<S extends string> = S extends `:${infer Name}` ? Name : never;

/** The parameter names of a route pattern: "/a/:x/b/:y" gives "x" | "y". */
export type ParamNames<P extends string> = P extends `${infer Head}/${infer Rest}`
  ? SegmentParam<Head> | ParamNames<Rest>
  : SegmentParam<P>;

/** The decoded path parameters of a route pattern, one string per ":name" segment. */
export type PathParams<P extends string> = { readonly [K in ParamNames<P>]: string };

/** A route pattern: starts with "/", segments separated by "/", ":name" for a parameter. */
export type Pattern = `/${string}`;

/** Query string parameters, read as what they are instead of null checks at every use. */
export interface Query {
  /** The first value of `name`: "" when given without a value, undefined when absent. */
  get(name: string): string | undefined;
  /** The first value of `name`; absent or empty is a 400 naming the parameter. */
  required(name: string): string;
  /** Every name and value in order (repeated, bracketed keys such as q[][pacticipant]). */
  entries(): IterableIterator<[string, string]>;
}

export function queryOf(search: URLSearchParams): Query {
  return {
    get: (name) => search.get(name) ?? undefined,
    required(name) {
      const value = search.get(name);
      if (!value) throw badRequest(name, "is required");
      return value;
    },
    entries: () => search.entries(),
  };
}

/** What every handler is given besides its path parameters. */
export interface RequestInfo {
  url: URL;
  query: Query;
  /** Base URL for links, without a trailing slash. */
  base: string;
  /** The JSON body ({} when empty), read once. */
  body: () => Promise<unknown>;
}

export interface Request<P extends string> extends RequestInfo {
  params: PathParams<P>;
}

/**
 * A route's handler. One handler may serve several patterns whose parameters
 * include its own (a pattern with an extra metadata segment, say).
 */
export type Handler<P extends string> = (request: Request<P>) => Promise<Reply>;

/** A matched route, its parameters already decoded. */
export type Matched = (request: RequestInfo) => Promise<Reply>;

export interface Router {
  get<P extends Pattern>(pattern: P, handler: Handler<NoInfer<P>>): Router;
  post<P extends Pattern>(pattern: P, handler: Handler<NoInfer<P>>): Router;
  put<P extends Pattern>(pattern: P, handler: Handler<NoInfer<P>>): Router;
  patch<P extends Pattern>(pattern: P, handler: Handler<NoInfer<P>>): Router;
  delete<P extends Pattern>(pattern: P, handler: Handler<NoInfer<P>>): Router;
  /**
   * The handler for a request: "method" when a route has the path but not
   * the method (405), undefined when none has the path (404). HEAD is GET.
   */
  match(method: string, pathname: string): Matched | "method" | undefined;
}

interface Route {
  method: Method;
  segments: readonly string[];
  run: (params: Record<string, string>, request: RequestInfo) => Promise<Reply>;
}

export function createRouter(): Router {
  const routes: Route[] = [];
  const add = <P extends Pattern>(method: Method, pattern: P, handler: Handler<NoInfer<P>>): Router => {
    routes.push({
      method,
      segments: pattern.split("/").filter(Boolean),
      // match() fills exactly the names of the pattern's ":name" segments.
      run: (params, request) => handler({ ...request, params: params as PathParams<P> }),
    });
    return router;
  };

  const router: Router = {
    get: (pattern, handler) => add("GET", pattern, handler),
    post: (pattern, handler) => add("POST", pattern, handler),
    put: (pattern, handler) => add("PUT", pattern, handler),
    patch: (pattern, handler) => add("PATCH", pattern, handler),
    delete: (pattern, handler) => add("DELETE", pattern, handler),
    match(method, pathname) {
      // Split before decoding, so an encoded "/" stays inside a name (branch feat%2Fx).
      const parts = pathname.split("/").filter(Boolean);
      let pathMatched = false;
      for (const route of routes) {
        const params = matchSegments(route.segments, parts);
        if (params === undefined) continue;
        pathMatched = true;
        if (route.method === method || (method === "HEAD" && route.method === "GET"))
          return (request) => route.run(params, request);
      }
      return pathMatched ? "method" : undefined;
    },
  };
  return router;
}

/** The decoded parameters when the path has the pattern's shape; undefined otherwise. */
function matchSegments(
  segments: readonly string[],
  parts: readonly string[],
): Record<string, string> | undefined {
  if (segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, segment] of segments.entries()) {
    const part = parts[i];
    if (part === undefined) return undefined;
    if (segment.startsWith(":")) {
      try {
        params[segment.slice(1)] = decodeURIComponent(part);
      } catch {
        return undefined;
      }
    } else if (segment !== part) {
      return undefined;
    }
  }
  return params;
}
