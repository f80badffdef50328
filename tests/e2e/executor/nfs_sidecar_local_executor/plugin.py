"""plux entry point: LAMBDA_RUNTIME_EXECUTOR=local-process selects this executor."""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class LocalProcessRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "local-process"

    def load(self, *args, **kwargs):
        from nfs_sidecar_local_executor.executor import LocalProcessRuntimeExecutor

        return LocalProcessRuntimeExecutor
