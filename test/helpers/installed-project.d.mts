export function packRepository(dir: string): string;
export function writeProject(dir: string, tarball: string, options?: { typescript?: boolean; extraPackages?: string[]; platformTarballs?: string[] }): void;
export function installOffline(dir: string): void;
