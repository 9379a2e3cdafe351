/** CLI commands of this feature (registered with registerCommand). */
export {};
