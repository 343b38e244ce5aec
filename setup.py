"""Build script: setuptools drives CMake to build the pybind11 extension ``vo_app._core``.

Environment variables:
    VO_CUDA_ARCHS   CUDA architectures (CMake syntax), default "80-real;86-real;89-real;90".
    VO_NO_CUDA=1    build the CPU-only core even when nvcc is present.
    VO_PORTABLE=1   do not optimise the CPU kernels for this machine (no -march=native).
    CMAKE_BUILD_PARALLEL_LEVEL  parallel compile jobs (default 2).
"""
import os
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name: str):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        import pybind11

        out_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_dir = Path(self.build_temp).resolve() / "cmake"
        build_dir.mkdir(parents=True, exist_ok=True)
        args = [
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={out_dir}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            "-DCMAKE_BUILD_TYPE=Release",
        ]
        if os.environ.get("VO_PORTABLE") == "1":
            args.append("-DVO_NATIVE=OFF")
        if os.environ.get("VO_NO_CUDA") == "1":
            args.append("-DVO_ENABLE_CUDA=OFF")
        env = dict(os.environ)
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build_dir), *args], check=True, env=env)
        subprocess.run(["cmake", "--build", str(build_dir)], check=True, env=env)


setup(
    ext_modules=[CMakeExtension("vo_app._core")],
    cmdclass={"build_ext": CMakeBuild},
)
