/** Volume tools: disks of an app that outlive machines, mounted by one machine at a time (config.mounts). */
import { z } from 'zod'
import { volumeCreate, volumeDestroy, volumeExtend, volumeList, volumeSnapshot, volumeView as fullView } from '../../../ops/index.ts'
import { changes, creates, destroys, opTool, readOnly } from '../tool.ts'

const app = z.string().meta({ description: 'App name.' })
const volumeId = z.string().regex(/^vol_[a-z0-9]+$/).meta({ description: 'Volume id, as volume_create or volume_list returned it.', examples: ['vol_3k9x2m7q8w1z5p4r'] })
const volumeView = fullView.pick({ id: true, name: true, size_gb: true, attached_machine_id: true, bytes_used: true, created_at: true })
type VolumeLike = z.infer<typeof volumeView>
const brief = (v: VolumeLike): VolumeLike => ({ id: v.id, name: v.name, size_gb: v.size_gb, attached_machine_id: v.attached_machine_id, bytes_used: v.bytes_used, created_at: v.created_at })
const line = (v: VolumeLike): string => `${v.id} ${v.name} ${v.size_gb} GB${v.attached_machine_id ? ` attached to ${v.attached_machine_id}` : ''}`

export const volumeTools = [
  opTool(volumeCreate, {
    name: 'volume_create',
    title: 'Create a volume',
    description: 'A disk of the app that outlives every machine: mount it with machine_run or machine_update, config.mounts [{volume, path: "/data"}] (one machine at a time). Empty, from a snapshot (snapshot_id), or a copy of another volume as it is now (source_volume_id).',
    input: z.object({
      app,
      name: z.string().regex(/^[a-z0-9_]{1,30}$/).meta({ description: 'Lower-case letters, digits, underscores.' }),
      size_gb: z.number().int().min(1).optional().meta({ description: 'Size in GB; default 3, or the source\'s size.' }),
      snapshot_id: z.string().optional().meta({ description: 'Start from this snapshot ("vs_…").' }),
      source_volume_id: volumeId.optional().meta({ description: 'Fork: start as this volume is now.' }),
    }),
    output: volumeView,
    annotations: creates,
    async run({ app, ...req }, { backend }) {
      const v = brief(await backend.run(volumeCreate, { app }, req))
      return { structured: v, text: `${line(v)}; mount it with config.mounts [{"volume": "${v.id}", "path": "/data"}]` }
    },
  }),

  opTool(volumeList, {
    name: 'volume_list',
    title: 'List an app\'s volumes',
    description: 'The app\'s volumes, with their size and the machine each is attached to.',
    input: z.object({ app }),
    output: z.object({ volumes: z.array(volumeView) }),
    annotations: readOnly,
    async run({ app }, { backend }) {
      const volumes = (await backend.run(volumeList, { app })).map(brief)
      return { structured: { volumes }, text: volumes.length ? volumes.map(line).join('\n') : `app ${app} has no volumes; make one with volume_create` }
    },
  }),

  opTool(volumeExtend, {
    name: 'volume_extend',
    title: 'Grow a volume',
    description: 'Make a volume larger, at once, even while a machine uses it. It cannot shrink.',
    input: z.object({ app, id: volumeId, size_gb: z.number().int().min(1).meta({ description: 'The new size in GB.' }) }),
    output: volumeView,
    annotations: changes,
    async run({ app, id, size_gb }, { backend }) {
      const v = brief((await backend.run(volumeExtend, { app, vid: id }, { size_gb })).volume)
      return { structured: v, text: line(v) }
    },
  }),

  opTool(volumeSnapshot, {
    name: 'volume_snapshot',
    title: 'Snapshot a volume',
    description: 'Freeze the volume as it is now (instant, whatever its size); volume_create with snapshot_id makes a volume from it.',
    input: z.object({ app, id: volumeId }),
    output: z.object({ id: z.string(), created_at: z.string(), size: z.number() }),
    annotations: creates,
    async run({ app, id }, { backend }) {
      const s = await backend.run(volumeSnapshot, { app, vid: id })
      return { structured: { id: s.id, created_at: s.created_at, size: s.size }, text: `snapshot ${s.id} of ${id}; volume_create with snapshot_id "${s.id}" makes a volume from it` }
    },
  }),

  opTool(volumeDestroy, {
    name: 'volume_destroy',
    title: 'Destroy a volume',
    description: 'Delete a volume, its data and its snapshots for good. Refused while a machine that exists has it attached.',
    input: z.object({ app, id: volumeId }),
    output: z.object({ id: z.string(), state: z.string() }),
    annotations: destroys,
    async run({ app, id }, { backend }) {
      const v = await backend.run(volumeDestroy, { app, vid: id })
      return { structured: { id: v.id, state: v.state }, text: `volume ${id} destroyed` }
    },
  }),
]
