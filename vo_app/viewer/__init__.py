"""Map accumulation, the open3d live viewer (own process) and the replay of finished runs.

Nothing here imports open3d at module level: ``vo-run`` without ``--viewer`` never
pays for it, and a broken open3d install only disables the viewer.
"""
