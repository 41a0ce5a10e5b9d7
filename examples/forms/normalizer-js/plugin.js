// normalizer-js: world acme:forms/transformer (examples/forms/wit/forms.wit) plus plughost's hooks. Its hook on
// `submission.transform` takes a submission as JSON, tidies it, asks validator-rust's `validate.check` (wired by
// the host: [interfaces.from] in plugin.toml) and keeps what passes in the host's `store`.
//
// The hook's data, in and out (JSON, UTF-8):
//   in:       {"form": "signup", "fields": {"name": " Ada ", "email": "ADA@Example.org"}}
//   accepted: {"id": 1, "form": "signup", "fields": {"name": "Ada", "email": "ada@example.org"}}
//   refused:  {"form": "signup", "problems": [{"field": "email", "message": "is required"}]}
// A refusal is still an ok result, so the caller sees why; data that is not such JSON fails the hook with status 400.
import { definePlugin, registerCallback, warn } from "@plughost/guest";
import { check } from "acme:forms/validate@1.0.0";
import { save } from "acme:forms/store@1.0.0";

const HOOK = "submission.transform";

export const guest = definePlugin({
  init() {
    return registerCallback(HOOK).err ? 1 : 0;
  },
  onHook(name, data) {
    if (name !== HOOK) return undefined; // not ours: UNHANDLED
    let input;
    try {
      input = JSON.parse(new TextDecoder().decode(data));
    } catch {
      input = undefined;
    }
    if (typeof input?.form !== "string" || typeof input.fields !== "object" || input.fields === null) {
      warn(`${HOOK}: expected {"form": string, "fields": {name: value}}`);
      return { err: 400 };
    }
    // Values trimmed, the email lower-cased: the WIT's submission keeps fields as a list of {name, value}.
    const fields = Object.entries(input.fields).map(([name, value]) => {
      const v = String(value ?? "").trim();
      return { name, value: name === "email" ? v.toLowerCase() : v };
    });
    const submission = { form: input.form, fields };
    const problems = check(submission);
    if (problems.length > 0) return JSON.stringify({ form: input.form, problems });
    // componentize-js binds result<u64, string> as the u64 (a bigint), or a throw whose payload is the string.
    let id;
    try {
      id = save(submission);
    } catch (e) {
      const message = e !== null && typeof e === "object" && "payload" in e ? String(e.payload) : String(e);
      return JSON.stringify({ form: input.form, problems: [{ field: "form", message: `not saved: ${message}` }] });
    }
    return JSON.stringify({ id: Number(id), form: input.form, fields: Object.fromEntries(fields.map((f) => [f.name, f.value])) });
  },
});
