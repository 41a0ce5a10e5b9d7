/** Every process below `pid` (sandbox helpers and whatever they started), zombies included. */
export function descendants(pid: number): number[];
