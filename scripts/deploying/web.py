"""Phase 6, first half: build the web app and publish it to the frontend bucket and CloudFront."""

from __future__ import annotations

from .context import DeployContext


class WebSteps(DeployContext):
    """Phase 6 of ``Deploy``: the web app, published."""

    def publish_web(self) -> None:
        self.shell.run(["make", "web"], note="npm ci + vite build into web/dist")
        bucket = self.stack_output(self.stack, "FrontendBucketName")
        distribution = self.stack_output(self.stack, "DistributionId")
        self.aws(
            "s3",
            "sync",
            "web/dist/assets",
            f"s3://{bucket}/assets",
            "--cache-control",
            "public,max-age=31536000,immutable",
        )
        self.aws(
            "s3",
            "sync",
            "web/dist",
            f"s3://{bucket}",
            "--exclude",
            "assets/*",
            "--exclude",
            ".built",
            "--delete",
            "--cache-control",
            "no-cache",
        )
        self.aws(
            "cloudfront",
            "create-invalidation",
            "--distribution-id",
            distribution,
            "--paths",
            "/index.html",
        )
