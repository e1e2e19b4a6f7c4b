export { main, reportError } from './main';
export { type OpFile, OpFileError, parseOpFile, readOpFile } from './op-file';
