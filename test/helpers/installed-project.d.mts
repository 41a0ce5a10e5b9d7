export function packRepository(dir: string): string;
export function writeProject(dir: string, tarball: string, options?: { typescript?: boolean }): void;
export function installOffline(dir: string): void;
