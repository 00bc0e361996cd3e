// pgha as a library: what another Pulumi program imports (`import { PostgresHaCluster } from "pgha"`).
// PostgresHaCluster is the entry point; the parts it composes are exported for programs that
// build a cluster from an already validated spec (`clusterSpec`).
export { PostgresHaCluster, PostgresHaClusterArgs, PostgresHaClusterSpecArgs, ClusterConfigArgs, NodeArgs, PreviousDeployment } from "./postgres-ha-cluster";
export { EtcdCluster, EtcdClusterArgs } from "./etcd-cluster";
export { PatroniNode, PatroniNodeArgs } from "./patroni-node";
export { HaproxyBalancer, HaproxyBalancerArgs } from "./haproxy-balancer";
export { KeepalivedPair, KeepalivedPairArgs } from "./keepalived-pair";
export { ClusterSpec, NodeSpec, Secrets } from "../core/spec";
export { ClusterShape } from "../core/transitions";
export { CertificateStatus } from "../core/pki";
export { parseClusterConfig, formatConfigErrors } from "../core/config";
