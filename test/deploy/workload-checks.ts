/**
 * Checks across rendered Kubernetes objects that no schema makes: a
 * selector that selects its own pods, Services that reach a workload on
 * ports its containers name, probes on declared ports, volume mounts of
 * declared volumes, and ConfigMaps and Secret keys that exist.
 */
import assert from 'node:assert/strict';
import { keyOf, type Manifest } from './kustomize-subset.ts';

/** The parts of a container these checks read. */
export interface Container {
  readonly name: string;
  readonly image: string;
  readonly args?: string[];
  readonly ports?: { name?: string; containerPort: number }[];
  readonly env?: {
    name: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string } };
  }[];
  readonly envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  readonly volumeMounts?: { name: string; mountPath: string }[];
  readonly startupProbe?: Probe;
  readonly livenessProbe?: Probe;
  readonly readinessProbe?: Probe;
  readonly securityContext?: Record<string, unknown>;
}

/** An HTTP or gRPC probe. */
export interface Probe {
  readonly httpGet?: { path: string; port: string | number };
  readonly grpc?: { port: number };
}

/** A Deployment's or StatefulSet's pod template and selector. */
export interface Workload {
  readonly object: Manifest;
  readonly selector: Record<string, string>;
  readonly labels: Record<string, string>;
  readonly containers: Container[];
  readonly volumes: {
    name: string;
    configMap?: { name: string };
    secret?: { secretName: string };
  }[];
  readonly claimNames: string[];
}

/** The Deployments and StatefulSets among `objects`. */
export function workloadsOf(objects: readonly Manifest[]): Workload[] {
  return objects
    .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
    .map((object) => {
      const spec = object.spec as {
        selector: { matchLabels: Record<string, string> };
        template: { metadata: { labels: Record<string, string> }; spec: Record<string, unknown> };
        volumeClaimTemplates?: { metadata: { name: string } }[];
      };
      return {
        object,
        selector: spec.selector.matchLabels,
        labels: spec.template.metadata.labels,
        containers: spec.template.spec.containers as Container[],
        volumes: (spec.template.spec.volumes ?? []) as Workload['volumes'],
        claimNames: (spec.volumeClaimTemplates ?? []).map((c) => c.metadata.name),
      };
    });
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/**
 * Every check of this file over `objects`; `secrets` maps each Secret the
 * operator creates to its keys.
 */
export function checkReferences(
  objects: readonly Manifest[],
  secrets: ReadonlyMap<string, ReadonlySet<string>>,
): void {
  const workloads = workloadsOf(objects);
  const configMaps = new Set(
    objects.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata.name),
  );
  for (const w of workloads) {
    const at = keyOf(w.object);
    assert.ok(selects(w.selector, w.labels), `${at}: its selector does not select its own pods`);
    const volumes = new Set([...w.volumes.map((v) => v.name), ...w.claimNames]);
    for (const v of w.volumes) {
      if (v.configMap)
        assert.ok(configMaps.has(v.configMap.name), `${at}: no ConfigMap ${v.configMap.name}`);
      if (v.secret)
        assert.ok(secrets.has(v.secret.secretName), `${at}: no Secret ${v.secret.secretName}`);
    }
    for (const c of w.containers) {
      const ports = new Set((c.ports ?? []).flatMap((p) => [p.name, p.containerPort]));
      for (const m of c.volumeMounts ?? []) {
        assert.ok(volumes.has(m.name), `${at}: ${c.name} mounts the undeclared volume ${m.name}`);
      }
      for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) {
        const port = probe?.httpGet?.port ?? probe?.grpc?.port;
        if (port !== undefined)
          assert.ok(ports.has(port), `${at}: a probe on the undeclared port ${port}`);
      }
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref) {
          assert.ok(
            secrets.get(ref.name)?.has(ref.key),
            `${at}: ${e.name} reads ${ref.name}/${ref.key}, which no Secret has`,
          );
        }
      }
      for (const from of c.envFrom ?? []) {
        if (from.configMapRef)
          assert.ok(
            configMaps.has(from.configMapRef.name),
            `${at}: no ConfigMap ${from.configMapRef.name}`,
          );
        if (from.secretRef)
          assert.ok(secrets.has(from.secretRef.name), `${at}: no Secret ${from.secretRef.name}`);
      }
    }
  }
  for (const service of objects.filter((o) => o.kind === 'Service')) {
    const spec = service.spec as {
      selector: Record<string, string>;
      ports: { name: string; targetPort: string | number }[];
    };
    const backends = workloads.filter((w) => selects(spec.selector, w.labels));
    assert.ok(backends.length > 0, `${keyOf(service)} selects no workload`);
    for (const w of backends) {
      const named = new Set(
        w.containers.flatMap((c) => (c.ports ?? []).flatMap((p) => [p.name, p.containerPort])),
      );
      for (const p of spec.ports) {
        assert.ok(
          named.has(p.targetPort),
          `${keyOf(service)}: port ${p.name} targets ${p.targetPort}, which ${keyOf(w.object)} does not declare`,
        );
      }
    }
  }
}
