/**
 * The `gyoza` command: `main(args)` runs it (the bin is `dist/main.js`); `readOpFile` and
 * `parseOpFile` read an op file (`gyoza.yml`) into a definition, with `OpFileError` naming each problem.
 */
export { main, reportError } from './main';
export { type OpFile, OpFileError, parseOpFile, readOpFile } from './op-file';
