#!/usr/bin/env node
// Builds what the Connect peers need beside their sources, into gen/ (not
// committed; scripts/setup.sh test and the Rust harness run this):
//   gen/web.binpb   the FileDescriptorSet of tests/proto/loom/test/v1/web.proto,
//                   by `buf build` (from @bufbuild/buf); server.mjs,
//                   client.mjs and `buf curl --schema` read it
//   gen/page.js     web/page.mjs and everything it imports (connect-web,
//                   protobuf-es, the descriptor set's bytes) as one ES module,
//                   by esbuild
//   gen/index.html  web/index.html, the page that loads it
// Does nothing when every output is newer than every input, so it is cheap
// to run before each use. Exits non-zero, saying why, when a step fails.
//
// Usage: node build.mjs   (after `npm ci` in this directory)

import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const gen = join(here, "gen");
const proto = join(here, "..", "proto");
const webProto = join(proto, "loom/test/v1/web.proto");

const inputs = [
  webProto,
  join(here, "schema.mjs"),
  join(here, "web/page.mjs"),
  join(here, "web/index.html"),
  join(here, "build.mjs"),
  join(here, "package-lock.json"),
];
const outputs = ["web.binpb", "page.js", "index.html"].map((f) => join(gen, f));

const mtime = (f) => statSync(f).mtimeMs;
const newestInput = Math.max(...inputs.map(mtime));
if (outputs.every((f) => existsSync(f) && mtime(f) > newestInput)) {
  process.exit(0);
}

mkdirSync(gen, { recursive: true });
const buf = join(here, "node_modules/.bin/buf");
execFileSync(buf, ["build", proto, "--path", webProto, "-o", join(gen, "web.binpb")], {
  stdio: ["ignore", "inherit", "inherit"],
});

const esbuild = await import("esbuild");
await esbuild.build({
  entryPoints: [join(here, "web/page.mjs")],
  outfile: join(gen, "page.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  loader: { ".binpb": "binary" },
  logLevel: "warning",
});
copyFileSync(join(here, "web/index.html"), join(gen, "index.html"));
process.stderr.write(`build.mjs: wrote ${outputs.join(", ")}\n`);
