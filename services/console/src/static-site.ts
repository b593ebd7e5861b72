import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type http from "node:http";
import type http2 from "node:http2";
import path from "node:path";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".ico": "image/x-icon",
  ".webp": "image/webp",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
  ".txt": "text/plain; charset=utf-8",
  ".webmanifest": "application/manifest+json",
};

/**
 * The page's Content-Security-Policy: scripts, styles and images from the
 * console only, no inline script, no framing, and network calls to the
 * console itself (the forwarded RPCs) and to the identity provider (token
 * and logout endpoints), nowhere else.
 */
export function contentSecurityPolicy(identityOrigin: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "manifest-src 'self'",
    `connect-src 'self' ${identityOrigin}`,
    `form-action 'self' ${identityOrigin}`,
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join("; ");
}

/** Headers every answer of the console carries. */
export function securityHeaders(csp: string): Record<string, string> {
  return {
    "content-security-policy": csp,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
  };
}

export interface StaticSite {
  /** Answers GET and HEAD from the built app; unknown paths without an extension get index.html. */
  serve(req: Request, res: Response): void;
}

/**
 * Serves the built web app (vite build's output) from `root`. A path that
 * resolves outside root is not found; a path with no file extension that
 * names no file is a client-side route and gets index.html; hashed assets
 * are cached for good, index.html never.
 */
export function createStaticSite(options: { root: string; headers: Record<string, string> }): StaticSite {
  const root = path.resolve(options.root);
  const send = (res: Response, status: number, type: string, body: string) => {
    (res as http.ServerResponse).writeHead(status, {
      ...options.headers,
      "content-type": type,
      "content-length": Buffer.byteLength(body),
      "cache-control": "no-store",
    });
    res.end(body);
  };

  async function fileAt(relative: string): Promise<{ file: string; size: number } | undefined> {
    const file = path.resolve(root, `.${relative}`);
    if (file !== root && !file.startsWith(`${root}${path.sep}`)) return undefined;
    try {
      const info = await stat(file);
      return info.isFile() ? { file, size: info.size } : undefined;
    } catch {
      return undefined;
    }
  }

  async function serve(req: Request, res: Response): Promise<void> {
    if (req.method !== "GET" && req.method !== "HEAD") {
      (res as http.ServerResponse).writeHead(405, { ...options.headers, allow: "GET, HEAD" });
      res.end();
      return;
    }
    let pathname: string;
    try {
      pathname = decodeURIComponent((req.url ?? "/").split("?")[0] ?? "/");
    } catch {
      send(res, 400, "text/plain; charset=utf-8", "bad path\n");
      return;
    }
    if (pathname.includes("\0") || !pathname.startsWith("/")) {
      send(res, 400, "text/plain; charset=utf-8", "bad path\n");
      return;
    }
    const wanted = pathname.endsWith("/") ? `${pathname}index.html` : pathname;
    let found = await fileAt(wanted);
    if (!found && path.extname(pathname) === "") found = await fileAt("/index.html");
    if (!found) {
      if (path.extname(pathname) === "" || pathname.endsWith(".html")) {
        send(
          res,
          503,
          "text/html; charset=utf-8",
          "<!doctype html><title>Accord console</title><p>The console's web app is not built yet: run <code>npm run console:build</code>.</p>\n",
        );
      } else {
        send(res, 404, "text/plain; charset=utf-8", "not found\n");
      }
      return;
    }
    const type = CONTENT_TYPES[path.extname(found.file).toLowerCase()] ?? "application/octet-stream";
    const immutable = found.file.startsWith(`${root}${path.sep}assets${path.sep}`);
    (res as http.ServerResponse).writeHead(200, {
      ...options.headers,
      "content-type": type,
      "content-length": found.size,
      "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
    });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    const stream = createReadStream(found.file);
    stream.on("error", () => res.destroy());
    stream.pipe(res as http.ServerResponse);
  }

  return {
    serve(req, res) {
      serve(req, res).catch(() => {
        if (!res.headersSent) send(res, 500, "text/plain; charset=utf-8", "error\n");
        else res.destroy();
      });
    },
  };
}
