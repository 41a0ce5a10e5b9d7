// template-js: on-hook `render` takes JSON `{ template, data }` and returns the
// template with every `{{key}}` replaced: from `data` first, then from the
// plugin's configuration. Unknown keys render as the empty string.
import { definePlugin, registerCallback, getConfigValue, text, warn } from "@plughost/guest";

interface RenderRequest {
  template: string;
  data?: Record<string, unknown>;
}

const BAD_REQUEST = -22;

function lookup(key: string, data: Record<string, unknown>): string {
  const v = Object.hasOwn(data, key) ? data[key] : getConfigValue(key);
  if (v === undefined || v === null) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

export function render(template: string, data: Record<string, unknown>): string {
  return template.replace(/\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g, (_m, key: string) => lookup(key, data));
}

export const guest = definePlugin({
  init() {
    return registerCallback("render").err ? 1 : 0;
  },
  onEvent() {
    return 0;
  },
  onHook(name, bytes) {
    if (name !== "render") return { err: -100 };
    let req: RenderRequest;
    try {
      req = JSON.parse(text(bytes)) as RenderRequest;
    } catch {
      warn("render: the request is not JSON");
      return { err: BAD_REQUEST };
    }
    if (typeof req?.template !== "string") return { err: BAD_REQUEST };
    return render(req.template, req.data ?? {});
  },
});
