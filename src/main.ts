#!/usr/bin/env node
// Placeholder entry; the composition root lands with the core job.
process.stdout.write('kbc-table-sync\n');
