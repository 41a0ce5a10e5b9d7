/** The version of the WIT package `plughost:plugin` this host implements. */
export const HOST_WIT_VERSION = "0.1.0";
