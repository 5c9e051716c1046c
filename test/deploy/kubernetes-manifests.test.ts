/**
 * The Kubernetes manifests of deploy/kubernetes: every object, rendered as
 * `kustomize build` would render the base and the cluster overlay, is valid
 * against the Kubernetes JSON schemas (the `kubernetes-models` package's
 * validators); references between objects resolve; probes reach /healthz
 * and /readyz; and the Kiln configuration each ConfigMap carries is one
 * that Kiln's own loader accepts.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { ConfigMap, PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';
import { parseConfigText } from '../../src/config/load-config.ts';
import { ROOT } from '../support/kiln-process.ts';
import { keyOf, type Manifest, readManifests, renderKustomization } from './kustomize-subset.ts';
import { checkReferences, workloadsOf } from './workload-checks.ts';

const K8S = join(ROOT, 'deploy', 'kubernetes');
const BASE = join(K8S, 'base');
const CLUSTER = join(K8S, 'overlays', 'cluster');
const SECRETS_EXAMPLE = join(K8S, 'secrets.example.yaml');

type Model = new (data: unknown) => { validate(): void };

/** The schema of each kind the manifests use; a kind not listed fails the test. */
const MODELS: Record<string, Model> = {
  'v1/ConfigMap': ConfigMap as unknown as Model,
  'v1/Secret': Secret as unknown as Model,
  'v1/Service': Service as unknown as Model,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim as unknown as Model,
  'apps/v1/Deployment': Deployment as unknown as Model,
  'apps/v1/StatefulSet': StatefulSet as unknown as Model,
};

/** Validates `object` against its Kubernetes schema; throws naming it and the violation. */
function validate(object: Manifest, where: string): void {
  const model = MODELS[`${object.apiVersion}/${object.kind}`];
  assert.ok(model, `${where}: ${object.apiVersion} ${object.kind} has no schema in this test`);
  try {
    new model(object).validate();
  } catch (err) {
    throw new Error(`${where}: ${keyOf(object)}: ${(err as Error).message}`);
  }
}

function secretsExample(): Map<string, Set<string>> {
  const secrets = new Map<string, Set<string>>();
  for (const doc of readManifests(SECRETS_EXAMPLE) as Manifest[]) {
    validate(doc, 'secrets.example.yaml');
    secrets.set(doc.metadata.name, new Set(Object.keys(doc.stringData as object)));
  }
  return secrets;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join(dir, f));
}

/** The Kiln configuration in a rendering's ConfigMap kiln-config. */
function kilnYaml(objects: readonly Manifest[]): string {
  const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'kiln-config');
  const text = (config?.data as Record<string, string> | undefined)?.['kiln.yaml'];
  assert.ok(text, 'no kiln.yaml in the ConfigMap kiln-config');
  return text;
}

/** Sample values of the variables the configurations reference. */
const ENV = {
  KILN_BAZEL_TOKEN: 'bazel-token',
  KILN_WORKER_TOKEN: 'worker-token',
  KILN_S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com',
  KILN_S3_REGION: 'eu-west-1',
  KILN_S3_BUCKET: 'kiln-builds',
  KILN_POSTGRES_URL: 'postgresql://kiln:secret@postgres:5432/kiln',
};

describe('Kubernetes manifests', () => {
  const base = renderKustomization(BASE);
  const cluster = renderKustomization(CLUSTER);

  it('are valid against the Kubernetes schemas, every object of both renderings', () => {
    for (const [name, rendered] of [
      ['base', base],
      ['cluster', cluster],
    ] as const) {
      assert.ok(rendered.objects.length > 0);
      for (const object of rendered.objects) validate(object, name);
    }
    secretsExample();
  });

  it('the schema check rejects a broken manifest', () => {
    const statefulSet = base.objects.find((o) => o.kind === 'StatefulSet') as Manifest;
    const broken = structuredClone(statefulSet) as Manifest & { spec: Record<string, unknown> };
    broken.spec.replicas = 'one';
    assert.throws(() => validate(broken, 'test'), /replicas must be integer/);
    const unnamed = structuredClone(statefulSet) as Manifest & {
      spec: { template: { spec: { containers: Record<string, unknown>[] } } };
    };
    delete unnamed.spec.template.spec.containers[0]?.name;
    assert.throws(() => validate(unnamed, 'test'), /must have required property name/);
  });

  it('use every YAML file under deploy/kubernetes, and resolve every reference', () => {
    const used = new Set([...base.files, ...cluster.files, SECRETS_EXAMPLE]);
    const unused = yamlFiles(K8S).filter((f) => !used.has(f));
    assert.deepEqual(
      unused.map((f) => relative(K8S, f)),
      [],
      'files no kustomization lists',
    );
    const secrets = secretsExample();
    checkReferences(base.objects, secrets);
    checkReferences(cluster.objects, secrets);
  });

  it('the reference check catches a port no container declares and a Secret key none has', () => {
    const objects = structuredClone(base.objects);
    const service = objects.find((o) => o.kind === 'Service') as Manifest & {
      spec: { ports: { targetPort: string }[] };
    };
    (service.spec.ports[0] as { targetPort: string }).targetPort = 'grpcs';
    assert.throws(() => checkReferences(objects, secretsExample()), /targets grpcs/);
    const secrets = secretsExample();
    secrets.get('kiln-tokens')?.delete('worker');
    assert.throws(() => checkReferences(base.objects, secrets), /kiln-tokens\/worker/);
  });

  it('base: one kiln serve on a PersistentVolumeClaim, probed on /healthz and /readyz', () => {
    const workloads = workloadsOf(base.objects);
    assert.deepEqual(
      workloads.map((w) => keyOf(w.object)),
      ['StatefulSet/kiln'],
    );
    const [node] = workloads;
    assert.ok(node);
    assert.equal((node.object.spec as { replicas: number }).replicas, 1);
    assert.deepEqual(node.claimNames, ['data']);
    const [server] = node.containers;
    assert.deepEqual(server?.args?.slice(0, 1), ['serve']);
    assert.equal(server?.image, 'kiln:latest');
    assert.ok(
      server?.volumeMounts?.some((m) => m.name === 'data' && m.mountPath === '/var/lib/kiln'),
    );
    assert.deepEqual(server?.livenessProbe?.httpGet, { path: '/healthz', port: 'http' });
    assert.deepEqual(server?.readinessProbe?.httpGet, { path: '/readyz', port: 'http' });
    assert.equal(server?.securityContext?.allowPrivilegeEscalation, false);
    const service = base.objects.find((o) => o.kind === 'Service') as Manifest;
    const ports = (service.spec as { ports: { port: number }[] }).ports.map((p) => p.port);
    assert.deepEqual(ports, [8980, 8981]);
  });

  it('cluster: frontends and workers, no StatefulSet, engines configured from a ConfigMap and Secrets', () => {
    const workloads = workloadsOf(cluster.objects);
    assert.deepEqual(workloads.map((w) => keyOf(w.object)).sort(), [
      'Deployment/kiln-frontend',
      'Deployment/kiln-worker',
    ]);
    const frontend = workloads.find((w) => w.object.metadata.name === 'kiln-frontend');
    const [serve] = frontend?.containers ?? [];
    assert.deepEqual(serve?.readinessProbe?.httpGet, { path: '/readyz', port: 'http' });
    assert.deepEqual(serve?.livenessProbe?.httpGet, { path: '/healthz', port: 'http' });
    assert.ok(serve?.envFrom?.some((f) => f.configMapRef?.name === 'kiln-cluster-env'));
    const fromSecrets = (serve?.env ?? []).flatMap((e) => e.valueFrom?.secretKeyRef?.name ?? []);
    assert.ok(fromSecrets.includes('kiln-cluster'), 'PostgreSQL and S3 credentials from a Secret');
    const worker = workloads.find((w) => w.object.metadata.name === 'kiln-worker');
    const [agent] = worker?.containers ?? [];
    assert.deepEqual(agent?.args?.slice(0, 3), ['worker', '--scheduler', 'grpc://kiln:8980']);
    assert.equal(agent?.image, 'kiln-worker:latest');
  });

  it('carry Kiln configurations that Kiln loads: base on disk, cluster on S3 and PostgreSQL', () => {
    const single = parseConfigText(kilnYaml(base.objects), 'base kiln.yaml', { env: ENV });
    assert.equal(single.server.listen, '0.0.0.0:8980');
    assert.equal(single.server.httpListen, '0.0.0.0:8981');
    assert.equal(single.execution.localWorkers, 0);
    const shared = parseConfigText(kilnYaml(cluster.objects), 'cluster kiln.yaml', { env: ENV });
    assert.equal(shared.storage.stores['shared-cas']?.kind, 's3');
    assert.deepEqual(shared.execution.scheduler, {
      postgres: { url: ENV.KILN_POSTGRES_URL, poolSize: 10, schema: 'kiln' },
    });
    // The variables come from the ConfigMap and Secrets the frontends read.
    const env = cluster.objects.find((o) => o.metadata.name === 'kiln-cluster-env') as Manifest;
    for (const name of ['KILN_S3_ENDPOINT', 'KILN_S3_REGION', 'KILN_S3_BUCKET']) {
      assert.ok(name in (env.data as object), name);
    }
  });
});
