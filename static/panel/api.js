// The panel is one more client of the HTTP API: the session cookie plus the X-CSRF-Token header.

const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

export class ApiFailure extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

export async function api(method, path, body, { contentType } = {}) {
  const headers = { "X-CSRF-Token": csrf, Accept: "application/json" };
  let payload;
  if (body !== undefined) {
    if (contentType) {
      headers["Content-Type"] = contentType;
      payload = body;
    } else {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, credentials: "same-origin", cache: "no-store" });
  } catch (err) {
    throw new ApiFailure(0, "network", "The server cannot be reached; check the connection.", null);
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    if (response.status === 401) {
      window.location.assign("/host/login");
    }
    throw new ApiFailure(response.status, error.code || "http_" + response.status, error.message || response.statusText, data);
  }
  return data;
}
