"""Which kernel a module page gets: the page kernel (:mod:`omsorgslyft.learn.pagekernel`),
whatever kernel the released notebook names."""

from __future__ import annotations

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

from omsorgslyft.learn.pagekernel import ARGV


class PageKernelSpecs(KernelSpecManager):
    """The installed Python kernel spec, started as the page kernel."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        spec = super().get_kernel_spec(kernel_name)
        spec.argv = list(ARGV)
        return spec
