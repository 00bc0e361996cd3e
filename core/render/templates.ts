// Handlebars templates from templates/, compiled once. `strict` makes a
// missing variable throw instead of rendering as an empty string; `noEscape`
// because the output is not HTML: every value is validated before it gets here.

import * as fs from "fs";
import * as path from "path";
import Handlebars from "handlebars";

export const TEMPLATES_DIR = path.resolve(__dirname, "..", "..", "templates");

const hbs = Handlebars.create();
const compiled = new Map<string, Handlebars.TemplateDelegate>();

function load(name: string): Handlebars.TemplateDelegate {
    let t = compiled.get(name);
    if (t === undefined) {
        const source = fs.readFileSync(path.join(TEMPLATES_DIR, name), "utf8");
        t = hbs.compile(source, { strict: true, noEscape: true });
        compiled.set(name, t);
    }
    return t;
}

/** Renders templates/<name> with `context`; throws on any variable the context lacks. */
export function renderTemplate(name: string, context: object): string {
    return load(name)(context);
}
