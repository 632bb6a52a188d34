"""The baked AMI (`scripts/deploy.py bake-ami`): a gpu AMI that boots with the image's layers."""

from __future__ import annotations

from .constants import BUILD, REPO
from .context import DeployContext


class AmiSteps(DeployContext):
    """``Deploy.bake_ami``: the baked gpu AMI."""

    def bake_ami(self, gpu_digest: str) -> None:
        """An AMI that already holds the gpu image's layers, published as /roto/<env>/gpu/ami-id.
        Set GpuAmiParameter to that name in params/<env>.json to boot from it."""
        account = self.account()
        image = f"{account}.dkr.ecr.{self.region}.amazonaws.com/roto-gpu@{gpu_digest}"
        base = self.aws(
            "ssm",
            "get-parameter",
            "--name",
            "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id",
            "--query",
            "Parameter.Value",
            "--output",
            "text",
            placeholder="<base ami>",
        )
        subnet = self.stack_output(self.stack, "PrivateSubnetIds").split(",")[0]
        group = self.stack_output(self.stack, "GpuSecurityGroupId")
        profile = self.stack_output(self.stack, "GpuInstanceProfileArn")
        user_data = BUILD / "bake-user-data.sh"
        user_data.write_text(
            "#!/bin/bash\nset -euo pipefail\n"
            f"aws ecr get-login-password --region {self.region} | docker login --username AWS "
            f"--password-stdin {image.split('/')[0]}\n"
            f"docker pull {image}\nshutdown -h now\n"
        )
        instance = self.aws(
            "ec2",
            "run-instances",
            "--image-id",
            base,
            "--instance-type",
            "g4dn.xlarge",
            "--subnet-id",
            subnet,
            "--security-group-ids",
            group,
            "--iam-instance-profile",
            f"Arn={profile}",
            "--metadata-options",
            "HttpTokens=required,HttpPutResponseHopLimit=2",
            "--block-device-mappings",
            "DeviceName=/dev/xvda,Ebs={VolumeSize=200,VolumeType=gp3,Encrypted=true}",
            "--user-data",
            f"file://{user_data.relative_to(REPO)}",
            "--query",
            "Instances[0].InstanceId",
            "--output",
            "text",
            placeholder="<bake instance>",
        )
        self.aws(
            "ec2",
            "wait",
            "instance-stopped",
            "--instance-ids",
            instance,
            note="the user data pulls the image, then shuts the instance down",
        )
        ami = self.aws(
            "ec2",
            "create-image",
            "--instance-id",
            instance,
            "--name",
            f"roto-{self.env}-gpu-{gpu_digest.removeprefix('sha256:')[:16]}",
            "--query",
            "ImageId",
            "--output",
            "text",
            placeholder="<ami>",
        )
        self.aws("ec2", "wait", "image-available", "--image-ids", ami)
        self.aws("ec2", "terminate-instances", "--instance-ids", instance)
        self.aws(
            "ssm",
            "put-parameter",
            "--name",
            f"/roto/{self.env}/gpu/ami-id",
            "--type",
            "String",
            "--data-type",
            "aws:ec2:image",
            "--value",
            ami,
            "--overwrite",
        )
