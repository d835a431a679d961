/** The origin the client addressed: a TLS proxy's X-Forwarded-Proto, else the request URL's scheme. */
export function requestOrigin(request: Request): string {
  const url = new URL(request.url);
  const host = request.headers.get('host') ?? url.host;
  return `${isHttps(request) ? 'https' : 'http'}://${host}`;
}

export function isHttps(request: Request): boolean {
  const forwarded = request.headers.get('x-forwarded-proto')?.split(',')[0]?.trim();
  return forwarded === 'https' || new URL(request.url).protocol === 'https:';
}

/**
 * Cross-site request forgery guard for cookie-authenticated writes. Browsers send Origin and
 * Sec-Fetch-Site on POSTs and the page cannot fake either; our own client also sends a custom
 * header, which a cross-site page cannot add without a CORS preflight we never grant.
 */
export function isSameOriginWrite(request: Request, publicUrl?: string): boolean {
  const site = request.headers.get('sec-fetch-site');
  if (site !== null && site !== 'same-origin') return false;
  const origin = request.headers.get('origin');
  if (origin !== null && origin !== requestOrigin(request) && origin !== publicUrl) return false;
  return origin !== null || site !== null || request.headers.get(CLIENT_HEADER) !== null;
}

/** Sent by Ballast's own browser client on every API call. */
export const CLIENT_HEADER = 'x-ballast-client';

/** Behind TLS, every cookie we set is Secure, whatever the configuration says. */
export function secureCookiesFor(response: Response, request: Request): Response {
  if (!isHttps(request)) return response;
  const cookies = response.headers.getSetCookie();
  if (cookies.length === 0) return response;
  const headers = new Headers(response.headers);
  headers.delete('set-cookie');
  for (const cookie of cookies) headers.append('set-cookie', withSecure(cookie));
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

export const withSecure = (cookie: string) => (/;\s*secure\b/i.test(cookie) ? cookie : `${cookie}; Secure`);
