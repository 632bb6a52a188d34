"""The deploy behind `make deploy` and `make deploy-plan` (scripts/deploy.py is its command line).

What every phase uses:
- constants.py: the repository's paths, the image targets, the registry stack's name.
- shell.py: runs each command, or in a dry run prints it (``Shell``, ``DeployError``).
- context.py: ``DeployContext``, the environment and its stack, and `aws` in its region.

The phases, in the order a release goes out (release.py lists them in full):
- images.py: 1. build and push the images, by digest.
- params.py: 3. the change set's parameters (params/<env>.json plus the digests).
- migrations.py: 4. the migrations, as a one-off task of the new release's api image.
- web.py, health.py: 6. publish the web app, then wait for health.
- release.py: ``Deploy``, which runs them all in order; 2, 3 and 5 are in ``Deploy.run`` itself.

And ami.py: the baked gpu AMI (`scripts/deploy.py bake-ami`).

Standard library only, like the script: `make deploy` runs it with the system's python3.
"""
