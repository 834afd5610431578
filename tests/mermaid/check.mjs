// Parse Mermaid blocks with Mermaid's own parser; what the template's tests run on the report.
// Usage: node check.mjs < file.md  (every ```mermaid block in it); prints one line per block
// and exits 1 on the first that does not parse, with Mermaid's message.
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

// Mermaid sanitises labels with DOMPurify, which needs a window even to parse.
const { window } = new JSDOM("");
globalThis.window = window;
globalThis.document = window.document;
const { default: mermaid } = await import("mermaid");

const text = readFileSync(0, "utf8");
const blocks = [...text.matchAll(/^```mermaid\n([\s\S]*?)^```$/gm)].map((match) => match[1]);
if (blocks.length === 0) {
  console.error("no ```mermaid block in the input");
  process.exit(1);
}
for (const [index, block] of blocks.entries()) {
  try {
    const parsed = await mermaid.parse(block);
    console.log(`block ${index + 1}: ${parsed.diagramType}`);
  } catch (error) {
    console.error(`block ${index + 1} does not parse: ${error.message}`);
    process.exit(1);
  }
}
