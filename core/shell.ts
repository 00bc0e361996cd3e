// Shell text shared by the pure core and the components: quoting, and where pgha's server
// programs live on the nodes (components/pgha-tools.ts installs them there).

/** The directory of pgha's programs on every node. */
export const TOOLS_DIR = "/usr/local/libexec/pgha";

/** `s` as one single-quoted shell word. */
export function shq(s: string): string {
    return `'${s.replace(/'/g, `'\\''`)}'`;
}
