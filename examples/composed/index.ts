// pgha as a library: a cluster whose third server comes from another resource of the same
// program. Here a `command.local.Command` stands in for the resource that creates a VM: like
// a cloud VM, it outputs the server's address and SSH host key only once it exists, and the
// cluster takes them as Outputs.
//
// Config (namespace "composed"):
//   servers: [{name, address, hostKey}, ...]  three existing servers; the third one is handed
//            to the stand-in "VM" resource, and the cluster gets it from that resource's output
//   cluster: the other stack-file keys of the cluster (vip, postgres, packages, ...), as in
//            pgha's own stack file (docs/stack-config.md), without the `pgha:` prefix
//   privateKeyPath, and the secrets superuserPassword, replicationPassword, keepalivedPassword
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { PostgresHaCluster } from "pgha";

interface Server {
    name: string;
    address: string;
    hostKey: string;
}

const cfg = new pulumi.Config("composed");
const servers = cfg.requireObject<Server[]>("servers");
const rest = cfg.getObject<Record<string, unknown>>("cluster") ?? {};

// The stand-in for a VM: its outputs are known only after it is created.
const vm = new command.local.Command("vm", { create: "cat", stdin: JSON.stringify(servers[2]) });
const created = vm.stdout.apply((s) => JSON.parse(s) as Server);

const cluster = new PostgresHaCluster("app", {
    config: {
        ...rest,
        clusterName: "app",
        ssh: { user: "root", privateKeyPath: cfg.require("privateKeyPath") },
        nodes: [
            { name: servers[0].name, address: servers[0].address, hostKey: servers[0].hostKey, roles: ["etcd", "postgres", "haproxy", "keepalived"] },
            { name: servers[1].name, address: servers[1].address, hostKey: servers[1].hostKey, roles: ["etcd", "postgres", "haproxy", "keepalived"] },
            { name: servers[2].name, address: created.address, hostKey: created.hostKey, roles: ["etcd"] },
        ],
    },
    superuserPassword: cfg.requireSecret("superuserPassword"),
    replicationPassword: cfg.requireSecret("replicationPassword"),
    keepalivedPassword: cfg.requireSecret("keepalivedPassword"),
});

export const primaryEndpoint = cluster.primaryEndpoint;
export const replicaEndpoint = cluster.replicaEndpoint;
export const verification = cluster.verification;
export const connectionString = cluster.connectionString;
export const caCertificate = cluster.caCertificate;
// The component's guards read these back on the next run: keep the names.
export const clusterShape = cluster.clusterShape;
export const certificates = cluster.certificates;
