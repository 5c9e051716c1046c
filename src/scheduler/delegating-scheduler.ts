/**
 * A base for Scheduler decorators: every method forwards to the wrapped
 * scheduler, so a decorator overrides only the calls it watches (and calls
 * `super` or `this.inner` to pass them on).
 */
import type { Scheduler } from './scheduler.ts';
import type {
  HeartbeatResult,
  LeaseCompletion,
  LeaseProgress,
  ListOperationsQuery,
  OperationPage,
  OperationState,
  RegisteredWorker,
  SchedulerStats,
  SubmitRequest,
  TakeOptions,
  TakeResult,
  WatchOptions,
  WorkerRegistration,
  WorkerState,
} from './types.ts';

/** Forwards every call to `inner`. */
export class DelegatingScheduler implements Scheduler {
  protected readonly inner: Scheduler;

  constructor(inner: Scheduler) {
    this.inner = inner;
  }

  submit(request: SubmitRequest): Promise<OperationState> {
    return this.inner.submit(request);
  }

  getOperation(name: string): Promise<OperationState> {
    return this.inner.getOperation(name);
  }

  listOperations(query: ListOperationsQuery): Promise<OperationPage> {
    return this.inner.listOperations(query);
  }

  watchOperation(name: string, options?: WatchOptions): AsyncIterable<OperationState> {
    return this.inner.watchOperation(name, options);
  }

  cancelOperation(name: string): Promise<OperationState> {
    return this.inner.cancelOperation(name);
  }

  deleteOperation(name: string): Promise<void> {
    return this.inner.deleteOperation(name);
  }

  registerWorker(registration: WorkerRegistration): Promise<WorkerState> {
    return this.inner.registerWorker(registration);
  }

  unregisterWorker(workerId: string): Promise<void> {
    return this.inner.unregisterWorker(workerId);
  }

  heartbeat(workerId: string): Promise<HeartbeatResult> {
    return this.inner.heartbeat(workerId);
  }

  takeWork(workerId: string, options?: TakeOptions): Promise<TakeResult> {
    return this.inner.takeWork(workerId, options);
  }

  updateLease(
    workerId: string,
    leaseId: string,
    progress: LeaseProgress,
  ): Promise<HeartbeatResult> {
    return this.inner.updateLease(workerId, leaseId, progress);
  }

  completeLease(workerId: string, leaseId: string, completion: LeaseCompletion): Promise<void> {
    return this.inner.completeLease(workerId, leaseId, completion);
  }

  listWorkers(): Promise<readonly WorkerState[]> {
    return this.inner.listWorkers();
  }

  findWorker(workerId: string): Promise<RegisteredWorker | undefined> {
    return this.inner.findWorker(workerId);
  }

  stats(): Promise<SchedulerStats> {
    return this.inner.stats();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Whether an operation still waits for its execution (false once done, deleted or expired). */
  protected async operationWaiting(name: string): Promise<boolean> {
    try {
      return !(await this.inner.getOperation(name)).done;
    } catch {
      return false;
    }
  }
}

/** The key decorators follow an action by: its instance and digest. */
export function actionKey(instanceName: string, digestKey: string): string {
  return `${instanceName}\u0000${digestKey}`;
}
