// The classic example with backups: a fourth server, backup1, holds the pgBackRest repository.

import { ClusterSpec } from "../../core/spec";
import { FAKE_SECRETS, classicValues, errorsOf, parse, placeholderHostKey, specOf } from "./fixtures";

export const FAKE_PASSPHRASE = "fake-cipher-passphrase-0123456789";
export const BACKUP_SECRETS = { ...FAKE_SECRETS, backupCipherPassphrase: FAKE_PASSPHRASE };

export function backupValues(): Record<string, any> {
    const v: Record<string, any> = classicValues();
    v.nodes.push({ name: "backup1", address: "172.51.216.84", hostKey: placeholderHostKey("backup1"), roles: ["backup"] });
    v.backup = { repository: { host: "backup1" } };
    return v;
}

export function backupWith(edit: (v: any) => void): Record<string, unknown> {
    const v = backupValues();
    edit(v);
    return v;
}

export const backupSpec = (values: Record<string, unknown> = backupValues(), secrets: Record<string, string> = BACKUP_SECRETS): ClusterSpec => specOf(values, secrets);
export const backupErrors = (values: Record<string, unknown>, secrets: Record<string, string> = BACKUP_SECRETS): readonly string[] => errorsOf(values, secrets);
export const backupParse = (values: Record<string, unknown>, secrets: Record<string, string> = BACKUP_SECRETS) => parse(values, secrets);
