export { startGateway, type Gateway, type GatewayOptions } from './gateway.js';
export { builtinProcesses, type BuiltinProcess } from './processes/builtins.js';
