export { openSqlite, type OpenOptions, type Sqlite } from './open.js';
