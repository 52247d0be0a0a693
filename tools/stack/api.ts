import https from 'node:https';

/** The API server as the stack's own helpers reach it (admin token; local, self-signed TLS). */
export interface ApiAccess {
  server: string;
  token: string;
}

export interface ApiResponse {
  status: number;
  body: string;
}

/**
 * One request to a local component over TLS without verifying it (it is this stack's own); status
 * 0 on connection errors. A body goes as `contentType` (server-side apply by default).
 */
export function apiRequest(
  method: string,
  url: string,
  token?: string,
  body?: string,
  contentType = 'application/apply-patch+yaml',
): Promise<ApiResponse> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
    if (body !== undefined) headers['Content-Type'] = contentType;
    const req = https.request(url, { method, rejectUnauthorized: false, headers, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

/** GET of a JSON object; undefined unless the API answers 200. */
export async function apiGet<T>(api: ApiAccess, path: string): Promise<T | undefined> {
  const res = await apiRequest('GET', api.server + path, api.token);
  return res.status === 200 ? (JSON.parse(res.body) as T) : undefined;
}
