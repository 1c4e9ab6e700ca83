// Build the committed bundle in build/ from the pinned npm packages (no network, deterministic).
//
//   build/vendor.js     require.js + d3 + jQuery, inlined by core/bertviz_embed.py into every
//                       BertViz page, so the views never fetch a library from a CDN.
//   build/component.js  the Streamlit component (streamlit-component-lib) that hosts a view
//                       and reports clicks back to Python.
//   build/index.html    the component's page (declare_component(path=frontend/build)).
//
// `npm ci && npm run build` must reproduce build/ byte for byte (scripts/check_frontend_bundle.sh).
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const out = join(here, "build");
mkdirSync(out, { recursive: true });

const pkgVersion = (name) => JSON.parse(readFileSync(require.resolve(`${name}/package.json`), "utf8")).version;
const read = (rel) => readFileSync(require.resolve(rel), "utf8");

// Strip sourceMappingURL comments: they would point the browser at files we do not ship.
const clean = (src) => src.replace(/\n?\/\/[#@] sourceMappingURL=\S+\s*$/g, "\n");

// require.js ships unminified; minify it with esbuild (same tool, same version: deterministic).
const requireMin = esbuild.transformSync(read("requirejs/require.js"), { minify: true, legalComments: "inline", target: "es2015" }).code;

// Order matters: d3 and jQuery first, while no AMD `define` exists, so both become plain
// globals (d3's UMD wrapper would otherwise call an anonymous define(), which require.js rejects
// as a "mismatched anonymous define"). Then require.js, then the two named modules BertViz asks
// for with requirejs(['jquery', 'd3'], ...), so require.js never tries to load a file.
const banner =
  `/* attention-dashboard vendor bundle: d3 ${pkgVersion("d3")}, jquery ${pkgVersion("jquery")}, ` +
  `requirejs ${pkgVersion("requirejs")}. Built by frontend/build.mjs from package-lock.json. */\n`;
const vendor =
  banner +
  clean(read("d3/dist/d3.min.js")) + "\n;\n" +
  clean(read("jquery/dist/jquery.min.js")) + "\n;\n" +
  requireMin + "\n;\n" +
  "(function(){var d=window.d3,j=window.jQuery;" +
  "define('d3',[],function(){return d;});define('jquery',[],function(){return j;});" +
  "window.__bertvizVendor={d3:d.version,jquery:j.fn.jquery,requirejs:requirejs.version};})();\n";
if (/<\/script/i.test(vendor)) throw new Error("vendor JS contains </script: cannot be inlined");
writeFileSync(join(out, "vendor.js"), vendor);

const result = esbuild.buildSync({
  entryPoints: [join(here, "src", "component.js")],
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2018",
  legalComments: "none",
  write: false,
  logLevel: "warning",
});
writeFileSync(join(out, "component.js"), result.outputFiles[0].text);
writeFileSync(join(out, "index.html"), readFileSync(join(here, "src", "index.html"), "utf8"));
console.log("built", ["vendor.js", "component.js", "index.html"].map((f) => `${f} ${readFileSync(join(out, f)).length} B`).join(", "));
