import { createHash } from "node:crypto";
import yaml from "js-yaml";
import path from "node:path";

/**
 * The part of Go's text/template and of Helm's function library that the podmortem chart uses,
 * interpreted closely enough to render the chart without a helm binary. Anything outside that
 * subset (an unknown function, a missing field under a nil value) throws instead of guessing, so a
 * template that this renderer cannot follow fails the tests rather than drifting silently; the
 * GitHub workflow renders the same chart with the real helm and compares it with deploy/manifests.
 */

type Value = unknown;

type Token =
  | { t: "field"; path: string[] }
  | { t: "var"; name: string; path: string[] }
  | { t: "ident"; name: string }
  | { t: "string"; value: string }
  | { t: "number"; value: number }
  | { t: "pipe" | "lparen" | "rparen" | "declare" | "assign" | "comma" };

type Operand =
  | { kind: "field"; path: string[] }
  | { kind: "var"; name: string; path: string[] }
  | { kind: "literal"; value: Value }
  | { kind: "call"; name: string; args: Operand[] }
  | { kind: "pipeline"; pipeline: Pipeline };

type Command = { head: Operand; args: Operand[] };
type Pipeline = { declare: string[]; assign: boolean; commands: Command[] };

type Node =
  | { kind: "text"; text: string }
  | { kind: "action"; pipeline: Pipeline }
  | { kind: "if" | "with"; pipeline: Pipeline; then: Node[]; else: Node[] }
  | { kind: "range"; pipeline: Pipeline; then: Node[]; else: Node[] };

type RawAction = { kind: "text"; text: string } | { kind: "action"; body: string; at: string };

export class TemplateError extends Error {}

const ACTION = /\{\{(-\s)?([\s\S]*?)(\s-)?\}\}/g;

function scan(source: string, name: string): RawAction[] {
  const parts: RawAction[] = [];
  let last = 0;
  let trimNext = false;
  for (const match of source.matchAll(ACTION)) {
    let text = source.slice(last, match.index);
    if (trimNext) text = text.replace(/^\s+/, "");
    if (match[1]) text = text.replace(/\s+$/, "");
    if (text) parts.push({ kind: "text", text });
    const line = source.slice(0, match.index).split("\n").length;
    const body = (match[2] ?? "").trim();
    if (!body.startsWith("/*")) parts.push({ kind: "action", body, at: `${name}:${line}` });
    trimNext = Boolean(match[3]);
    last = match.index + match[0].length;
  }
  let rest = source.slice(last);
  if (trimNext) rest = rest.replace(/^\s+/, "");
  if (rest) parts.push({ kind: "text", text: rest });
  return parts;
}

function tokenize(body: string, at: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const fieldPath = (): string[] => {
    const path: string[] = [];
    while (body[i] === "." && /[A-Za-z_]/.test(body[i + 1] ?? "")) {
      const m = /^\.([A-Za-z_][A-Za-z0-9_]*)/.exec(body.slice(i))!;
      path.push(m[1]!);
      i += m[0].length;
    }
    return path;
  };
  const SINGLE: Record<string, Token> = {
    "|": { t: "pipe" },
    "(": { t: "lparen" },
    ")": { t: "rparen" },
    ",": { t: "comma" },
  };
  while (i < body.length) {
    const c = body[i]!;
    const single = SINGLE[c];
    if (/\s/.test(c)) i++;
    else if (single) {
      tokens.push(single);
      i++;
    } else if (body.startsWith(":=", i)) {
      tokens.push({ t: "declare" });
      i += 2;
    } else if (c === "=") {
      tokens.push({ t: "assign" });
      i++;
    } else if (c === '"') {
      const m = /^"(?:[^"\\]|\\.)*"/.exec(body.slice(i));
      if (!m) throw new TemplateError(`${at}: unterminated string`);
      tokens.push({ t: "string", value: JSON.parse(m[0]) as string });
      i += m[0].length;
    } else if (c === "`") {
      const end = body.indexOf("`", i + 1);
      tokens.push({ t: "string", value: body.slice(i + 1, end) });
      i = end + 1;
    } else if (c === ".") {
      if (/[A-Za-z_]/.test(body[i + 1] ?? "")) tokens.push({ t: "field", path: fieldPath() });
      else {
        tokens.push({ t: "field", path: [] });
        i++;
      }
    } else if (c === "$") {
      const m = /^\$[A-Za-z0-9_]*/.exec(body.slice(i))!;
      i += m[0].length;
      tokens.push({ t: "var", name: m[0], path: fieldPath() });
    } else if (/[-0-9]/.test(c)) {
      const m = /^-?[0-9]+(\.[0-9]+)?/.exec(body.slice(i));
      if (!m) throw new TemplateError(`${at}: unexpected "${c}"`);
      tokens.push({ t: "number", value: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(body.slice(i))!;
      tokens.push({ t: "ident", name: m[0] });
      i += m[0].length;
    } else throw new TemplateError(`${at}: unexpected "${c}"`);
  }
  return tokens;
}

function parsePipeline(tokens: Token[], at: string): Pipeline {
  let pos = 0;
  const declare: string[] = [];
  let assign = false;
  const lookahead = tokens.findIndex((t) => t.t === "declare" || t.t === "assign");
  if (lookahead > 0 && tokens.slice(0, lookahead).every((t) => t.t === "var" || t.t === "comma")) {
    for (const t of tokens.slice(0, lookahead)) if (t.t === "var") declare.push(t.name);
    assign = tokens[lookahead]!.t === "assign";
    pos = lookahead + 1;
  }
  function operand(): Operand {
    const token = tokens[pos++];
    if (!token) throw new TemplateError(`${at}: missing operand`);
    switch (token.t) {
      case "field":
        return { kind: "field", path: token.path };
      case "var":
        return { kind: "var", name: token.name, path: token.path };
      case "string":
        return { kind: "literal", value: token.value };
      case "number":
        return { kind: "literal", value: token.value };
      case "ident":
        if (token.name === "true" || token.name === "false")
          return { kind: "literal", value: token.name === "true" };
        if (token.name === "nil") return { kind: "literal", value: null };
        return { kind: "call", name: token.name, args: [] };
      case "lparen": {
        const pipeline = pipelineUntil("rparen");
        pos++;
        return { kind: "pipeline", pipeline };
      }
      default:
        throw new TemplateError(`${at}: unexpected ${token.t}`);
    }
  }
  function pipelineUntil(stop: "rparen" | undefined): Pipeline {
    const commands: Command[] = [];
    let current: Operand[] = [];
    while (pos < tokens.length && tokens[pos]!.t !== stop) {
      if (tokens[pos]!.t === "pipe") {
        pos++;
        commands.push(toCommand(current));
        current = [];
        continue;
      }
      current.push(operand());
    }
    commands.push(toCommand(current));
    return { declare: [], assign: false, commands };
  }
  function toCommand(operands: Operand[]): Command {
    const [first, ...args] = operands;
    if (!first) throw new TemplateError(`${at}: empty command`);
    // `.Files.Get "path"` is a method call on the chart's files.
    const isFilesGet =
      (first.kind === "field" || (first.kind === "var" && first.name === "$")) &&
      first.path.join(".") === "Files.Get";
    const head: Operand = isFilesGet ? { kind: "call", name: "filesGet", args: [] } : first;
    if (args.length > 0 && head.kind !== "call")
      throw new TemplateError(`${at}: can't give arguments to a non-function`);
    return { head, args };
  }
  const pipeline = pipelineUntil(undefined);
  return { ...pipeline, declare, assign };
}

type Block = { keyword: string; at: string; pipeline?: Pipeline; nodes: Node[] };

function parse(source: string, name: string, defines: Map<string, Node[]>): Node[] {
  const root: Block = { keyword: "root", at: name, nodes: [] };
  const stack: Array<Block & { node?: Node & { then: Node[]; else: Node[] }; inElse?: boolean }> = [
    root,
  ];
  const top = () => stack[stack.length - 1]!;
  const emit = (node: Node) => {
    const block = top();
    if (block.node) (block.inElse ? block.node.else : block.node.then).push(node);
    else block.nodes.push(node);
  };
  for (const part of scan(source, name)) {
    if (part.kind === "text") {
      emit(part);
      continue;
    }
    const [word, ...rest] = part.body.split(/\s+/);
    const restBody = part.body.slice((word ?? "").length);
    if (word === "if" || word === "with" || word === "range") {
      const node = {
        kind: word,
        pipeline: parsePipeline(tokenize(restBody, part.at), part.at),
        then: [],
        else: [],
      } as Node & { then: Node[]; else: Node[] };
      emit(node);
      stack.push({ keyword: word, at: part.at, nodes: [], node });
    } else if (word === "define") {
      const nameToken = tokenize(restBody, part.at)[0];
      if (nameToken?.t !== "string") throw new TemplateError(`${part.at}: define needs a name`);
      const body: Node[] = [];
      defines.set(nameToken.value, body);
      stack.push({ keyword: "define", at: part.at, nodes: body });
    } else if (word === "else") {
      const block = top();
      if (!block.node || block.inElse) throw new TemplateError(`${part.at}: unexpected else`);
      block.inElse = true;
      if (rest[0] === "if" || rest[0] === "with") {
        const inner = {
          kind: rest[0],
          pipeline: parsePipeline(
            tokenize(restBody.trim().slice(rest[0].length), part.at),
            part.at,
          ),
          then: [],
          else: [],
        } as Node & { then: Node[]; else: Node[] };
        block.node.else.push(inner);
        // An `else if` shares the outer block's single `end`.
        stack.push({ keyword: "elseif", at: part.at, nodes: [], node: inner });
      }
    } else if (word === "end") {
      let closed = stack.pop();
      while (closed?.keyword === "elseif") closed = stack.pop();
      if (!closed || closed === root) throw new TemplateError(`${part.at}: unexpected end`);
    } else if (word === "template" || word === "block") {
      throw new TemplateError(`${part.at}: use include, not ${word}`);
    } else {
      emit({ kind: "action", pipeline: parsePipeline(tokenize(part.body, part.at), part.at) });
    }
  }
  if (stack.length !== 1)
    throw new TemplateError(`${name}: ${top().keyword} at ${top().at} has no end`);
  return root.nodes;
}

export function isTruthy(value: Value): boolean {
  if (
    value === null ||
    value === undefined ||
    value === false ||
    value === 0 ||
    value === 0n ||
    value === ""
  )
    return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === "object") return Object.keys(value).length > 0;
  return true;
}

/** Go's %v of a float64, which is what every YAML number is inside a Helm template. */
export function formatNumber(value: number): string {
  if (Number.isInteger(value) && Math.abs(value) < 1e6) return String(value);
  const [mantissa, exponent] = value.toExponential().split("e");
  const exp = Number(exponent);
  if (exp < -4 || exp >= 6) {
    return `${mantissa}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  return String(value);
}

function print(value: Value): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number") return formatNumber(value);
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `[${value.map(print).join(" ")}]`;
  return `map[${Object.entries(value as Record<string, Value>)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}:${print(v)}`)
    .join(" ")}]`;
}

function sortKeys(value: Value): Value {
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, Value>)[k])]),
    );
  }
  return value;
}

function toYaml(value: Value): string {
  if (value === null || value === undefined) return "null";
  return yaml.dump(sortKeys(value), { lineWidth: -1, noRefs: true }).replace(/\n$/, "");
}

function indent(width: number, text: string): string {
  const pad = " ".repeat(width);
  return pad + text.replaceAll("\n", `\n${pad}`);
}

function goPrintf(format: string, args: Value[]): string {
  let i = 0;
  return format.replace(/%([sdvq%])/g, (_, verb: string) => {
    if (verb === "%") return "%";
    const arg = args[i++];
    if (verb === "q") return JSON.stringify(print(arg));
    if (verb === "d") return String(Math.trunc(Number(arg)));
    return print(arg);
  });
}

export type RenderContext = {
  Values: Record<string, Value>;
  Release: { Name: string; Namespace: string; Service: string; IsInstall: boolean };
  Chart: { Name: string; Version: string; AppVersion: string };
  files: Record<string, string>;
  templateBasePath: string;
};

export function createTemplateSet() {
  const defines = new Map<string, Node[]>();
  const files = new Map<string, Node[]>();

  function run(
    nodes: Node[],
    dot: Value,
    vars: Array<Map<string, Value>>,
    ctx: RenderContext,
    at: string,
  ): string {
    let out = "";
    for (const node of nodes) {
      if (node.kind === "text") out += node.text;
      else if (node.kind === "action") {
        const value = evalPipeline(node.pipeline, dot, vars, ctx, at);
        if (node.pipeline.declare.length === 0) out += print(value);
      } else if (node.kind === "if" || node.kind === "with") {
        const scope = [...vars, new Map<string, Value>()];
        const value = evalPipeline(node.pipeline, dot, scope, ctx, at);
        if (isTruthy(value))
          out += run(node.then, node.kind === "with" ? value : dot, scope, ctx, at);
        else out += run(node.else, dot, [...vars, new Map<string, Value>()], ctx, at);
      } else {
        const scope = [...vars, new Map<string, Value>()];
        const { declare } = node.pipeline;
        const collection = evalPipeline({ ...node.pipeline, declare: [] }, dot, scope, ctx, at);
        const entries: Array<[Value, Value]> = Array.isArray(collection)
          ? collection.map((v, i) => [i, v])
          : collection && typeof collection === "object"
            ? Object.keys(collection)
                .sort()
                .map((k) => [k, (collection as Record<string, Value>)[k]])
            : [];
        if (collection !== null && collection !== undefined && typeof collection !== "object")
          throw new TemplateError(`${at}: range can't iterate over ${print(collection)}`);
        if (entries.length === 0) out += run(node.else, dot, scope, ctx, at);
        for (const [key, item] of entries) {
          const inner = new Map<string, Value>();
          if (declare.length === 1) inner.set(declare[0]!, item);
          if (declare.length === 2) {
            inner.set(declare[0]!, key);
            inner.set(declare[1]!, item);
          }
          out += run(node.then, item, [...scope, inner], ctx, at);
        }
      }
    }
    return out;
  }

  function lookupVar(vars: Array<Map<string, Value>>, name: string, at: string): Value {
    for (let i = vars.length - 1; i >= 0; i--) if (vars[i]!.has(name)) return vars[i]!.get(name);
    throw new TemplateError(`${at}: undefined variable ${name}`);
  }

  function walk(base: Value, path: string[], at: string, what: string): Value {
    let value = base;
    for (const [i, key] of path.entries()) {
      if (value === null || value === undefined) {
        throw new TemplateError(
          `${at}: nil pointer evaluating ${what}.${path.slice(0, i + 1).join(".")}`,
        );
      }
      if (typeof value !== "object")
        throw new TemplateError(`${at}: can't evaluate field ${key} in ${typeof value}`);
      value = (value as Record<string, Value>)[key];
    }
    return value;
  }

  function evalOperand(
    op: Operand,
    dot: Value,
    vars: Array<Map<string, Value>>,
    ctx: RenderContext,
    at: string,
  ): Value {
    switch (op.kind) {
      case "literal":
        return op.value;
      case "field":
        return walk(dot, op.path, at, "");
      case "var":
        return walk(lookupVar(vars, op.name, at), op.path, at, op.name);
      case "pipeline":
        return evalPipeline(op.pipeline, dot, vars, ctx, at);
      case "call":
        return call(op.name, [], undefined, dot, vars, ctx, at);
    }
  }

  function call(
    name: string,
    argOps: Operand[],
    piped: { value: Value } | undefined,
    dot: Value,
    vars: Array<Map<string, Value>>,
    ctx: RenderContext,
    at: string,
  ): Value {
    const lazy = argOps.map((op) => () => evalOperand(op, dot, vars, ctx, at));
    if (piped) lazy.push(() => piped.value);
    if (name === "and") {
      let last: Value = true;
      for (const arg of lazy) if (!isTruthy((last = arg()))) return last;
      return last;
    }
    if (name === "or") {
      let last: Value = false;
      for (const arg of lazy) if (isTruthy((last = arg()))) return last;
      return last;
    }
    const args = lazy.map((arg) => arg());
    const str = (i: number) => print(args[i]);
    switch (name) {
      case "include": {
        const body = defines.get(str(0));
        if (!body) throw new TemplateError(`${at}: no template "${str(0)}"`);
        return run(body, args[1], [new Map([["$", args[1]]])], ctx, `${at} (in ${str(0)})`);
      }
      case "toYaml":
        return toYaml(args[0]);
      case "toJson":
        return JSON.stringify(sortKeys(args[0] ?? null));
      case "nindent":
        return `\n${indent(Number(args[0]), str(1))}`;
      case "indent":
        return indent(Number(args[0]), str(1));
      case "quote":
        return args.map((a) => JSON.stringify(print(a))).join(" ");
      case "squote":
        return args.map((a) => `'${print(a)}'`).join(" ");
      case "default":
        return isTruthy(args[1]) ? args[1] : args[0];
      case "required":
        if (args[1] === null || args[1] === undefined || args[1] === "")
          throw new TemplateError(`execution error at (${at}): ${str(0)}`);
        return args[1];
      case "fail":
        throw new TemplateError(`execution error at (${at}): ${str(0)}`);
      case "empty":
        return !isTruthy(args[0]);
      case "not":
        return !isTruthy(args[0]);
      case "eq":
        return args.slice(1).some((a) => a === args[0]);
      case "ne":
        return args[0] !== args[1];
      case "lt":
        return Number(args[0]) < Number(args[1]);
      case "le":
        return Number(args[0]) <= Number(args[1]);
      case "gt":
        return Number(args[0]) > Number(args[1]);
      case "ge":
        return Number(args[0]) >= Number(args[1]);
      case "int":
      case "int64":
        // A Go integer, printed without the float64 exponent (bigint keeps the two apart).
        return BigInt(Math.trunc(Number(args[0] ?? 0)));
      case "toString":
        return str(0);
      case "printf":
        return goPrintf(str(0), args.slice(1));
      case "print":
        return args.map(print).join("");
      case "trunc": {
        const n = Number(args[0]);
        return n >= 0 ? str(1).slice(0, n) : str(1).slice(n);
      }
      case "trimSuffix":
        return str(1).endsWith(str(0)) ? str(1).slice(0, -str(0).length || undefined) : str(1);
      case "trimPrefix":
        return str(1).startsWith(str(0)) ? str(1).slice(str(0).length) : str(1);
      case "trim":
        return str(0).trim();
      case "lower":
        return str(0).toLowerCase();
      case "replace":
        return str(2).replaceAll(str(0), str(1));
      case "contains":
        return str(1).includes(str(0));
      case "hasPrefix":
        return str(1).startsWith(str(0));
      case "join":
        return ((args[1] as Value[] | null) ?? []).map(print).join(str(0));
      case "list":
        return args;
      case "dict": {
        const out: Record<string, Value> = {};
        for (let i = 0; i + 1 < args.length; i += 2) out[str(i)] = args[i + 1];
        return out;
      }
      case "hasKey":
        return Object.hasOwn((args[0] as object | null) ?? {}, str(1));
      case "len":
        return Array.isArray(args[0])
          ? args[0].length
          : typeof args[0] === "string"
            ? args[0].length
            : Object.keys((args[0] as object | null) ?? {}).length;
      case "ternary":
        return isTruthy(args[2]) ? args[0] : args[1];
      case "sha256sum":
        return createHash("sha256").update(str(0)).digest("hex");
      case "b64enc":
        return Buffer.from(str(0)).toString("base64");
      case "filesGet": {
        const content = ctx.files[str(0)];
        if (content === undefined) throw new TemplateError(`${at}: no chart file ${str(0)}`);
        return content;
      }
      default:
        throw new TemplateError(
          `${at}: function "${name}" not defined (outside the supported subset)`,
        );
    }
  }

  function evalPipeline(
    pipeline: Pipeline,
    dot: Value,
    vars: Array<Map<string, Value>>,
    ctx: RenderContext,
    at: string,
  ): Value {
    let piped: { value: Value } | undefined;
    for (const command of pipeline.commands) {
      const value =
        command.head.kind === "call"
          ? call(command.head.name, command.args, piped, dot, vars, ctx, at)
          : piped
            ? (() => {
                throw new TemplateError(`${at}: can't pipe into a non-function`);
              })()
            : evalOperand(command.head, dot, vars, ctx, at);
      piped = { value };
    }
    const result = piped?.value;
    if (pipeline.declare.length > 0) {
      const name = pipeline.declare[0]!;
      if (pipeline.assign) {
        const scope = [...vars].reverse().find((s) => s.has(name));
        if (!scope) throw new TemplateError(`${at}: undefined variable ${name}`);
        scope.set(name, result);
      } else vars[vars.length - 1]!.set(name, result);
    }
    return result;
  }

  return {
    add(name: string, source: string) {
      const nodes = parse(source, name, defines);
      // Helm names every file a template too, which `include (print .Template.BasePath …)` uses.
      defines.set(name, nodes);
      if (!path.basename(name).startsWith("_")) files.set(name, nodes);
    },
    /** Each template file's output, like `helm template` before it splits documents. */
    render(ctx: RenderContext): Map<string, string> {
      const root = {
        Values: ctx.Values,
        Release: ctx.Release,
        Chart: ctx.Chart,
        Files: { Get: undefined },
        Capabilities: {},
        Template: { BasePath: ctx.templateBasePath },
      };
      const out = new Map<string, string>();
      for (const [name, nodes] of files) {
        out.set(name, run(nodes, root, [new Map([["$", root]])], ctx, name));
      }
      return out;
    },
  };
}
