import { describe, expect, it } from 'vitest';
import { pluginSections, sectionSpec } from '@flotilla/config';
import { serviceNames } from '@flotilla/plugin';
import { serviceRegistrations } from './services.js';

// `flotilla config default` prints the sections listed in @flotilla/config (the daemon never imports the
// plugin processes' code to learn them). This keeps that list true to what each plugin actually reads.
describe('the config sections Flotilla documents', () => {
  it('cover every plugin with settings, with the plugin\'s own defaults', async () => {
    for (const name of serviceNames) {
      for (const r of await serviceRegistrations[name]()) {
        if (r.config === undefined) continue;
        const uri = `${r.type}.${r.id}`;
        const spec = sectionSpec(uri);
        expect(spec, `a section for ${uri}`).toBeDefined();
        const defaults = r.config as Record<string, unknown>;
        for (const [k, v] of Object.entries(defaults)) expect(spec!.keys[k]?.default, `${uri}.${k}`).toEqual(v);
        // Optional settings the plugin leaves out of its defaults mean "unset": "" / false / [] here.
        for (const [k, ks] of Object.entries(spec!.keys)) {
          const unset = ks.default === '' || ks.default === false || ks.default === 0n || (Array.isArray(ks.default) && ks.default.length === 0);
          if (!(k in defaults) && !ks.inert) expect(unset, `${uri}.${k}`).toBe(true);
        }
      }
    }
    expect(pluginSections.length).toBeGreaterThan(0);
  });
});
