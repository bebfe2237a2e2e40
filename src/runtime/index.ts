/**
 * The runtime room: one Driver interface (types.ts) and the table of drivers
 * that implement it. The platform picks one by name and never shells out itself.
 *
 *   const driver = await DRIVERS.runc({ stateDir, network })
 *   await driver.create(spec); await driver.start(spec.id)
 */
import { createRuncDriver, unmountMachinesFs } from './runc/index.ts'

/** Driver factories by name; a new driver is one folder and one line here. */
export const DRIVERS = {
  runc: createRuncDriver,
} as const

export type DriverName = keyof typeof DRIVERS

export { createRuncDriver, unmountMachinesFs }
/** How an app's domain rules judge a name: the DNS forwarder's rule, also applied by the tokenizer. */
export { judgeName } from './runc/domain-rules.ts'
export type { MachinesFsOptions, RuncDriverOptions } from './runc/index.ts'
export type { NetworkOptions } from './runc/cni.ts'
export type {
  Driver, DriverCapabilities, DriverCheckpoints, VolumeSnapshotRequest, DriverVolumes, VolumeMount, ExecOptions, ExecResult, ExitInfo, ExitListener, Inspection, LogLine, LogOptions,
  MachineSpec, NetworkInfo, ProcessSpec, RuntimeStatus, StartSecrets,
} from './types.ts'
