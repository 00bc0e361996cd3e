// Every file pgha places on one server, by the roles it holds.

import { ClusterSpec, NodeSpec, Secrets } from "../spec";
import { RenderedFile } from "./file";
import { EtcdRenderOptions, renderEtcdFiles } from "./etcd";
import { renderPatroniConfig } from "./patroni";
import { renderHaproxyConfig } from "./haproxy";
import { renderKeepalivedFiles } from "./keepalived";

export function renderNodeFiles(spec: ClusterSpec, node: NodeSpec, secrets: Secrets, etcd: EtcdRenderOptions = {}): RenderedFile[] {
    const has = (r: NodeSpec["roles"][number]): boolean => node.roles.includes(r);
    return [
        ...(has("etcd") ? renderEtcdFiles(spec, node, etcd) : []),
        ...(has("postgres") ? [renderPatroniConfig(spec, node, secrets)] : []),
        ...(has("haproxy") ? [renderHaproxyConfig(spec, node)] : []),
        ...(has("keepalived") && spec.vip !== undefined ? renderKeepalivedFiles(spec, node, secrets) : []),
    ];
}
