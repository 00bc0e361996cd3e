// Whether removing a node's services also deletes its data directories. The decision is
// a marker file on the node, written and removed by `pulumi up` from pgha:destroy.deleteData,
// and read by the delete commands when they run: the stop commands themselves never change
// with the flag, so flipping it touches only the marker (no service re-applies), and a
// delete follows the value the last `up` recorded on that node.
import { RenderedFile } from "./file";

export const DELETE_DATA_MARKER = "/etc/pgha/delete-data";

export function renderDeleteDataMarker(): RenderedFile {
    return {
        path: DELETE_DATA_MARKER,
        content: "# pgha:destroy.deleteData is true: removing this node's services deletes its data directories.\n",
        mode: "0644",
        owner: "root",
        group: "root",
    };
}

/** Shell: `deleting` when the node's marker says data goes with the services, else `keeping`. */
export function whenDeletingData(deleting: string, keeping: string): string {
    return [`if [ -e ${DELETE_DATA_MARKER} ]; then`, `    ${deleting}`, `else`, `    ${keeping}`, `fi`].join("\n");
}
