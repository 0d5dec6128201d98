"""The article's world, built through boto3 against the emulated endpoint (real HTTP, the way a
human would click it together): a hub VPC and two spokes, two VyOS routers each, and VPN
connections hub VGW → every spoke router and spoke VGW → every hub router.

As an operator following docs/operations.md sets it up: VyOS AMIs registered with their
version in the name, one real key pair per site, an instance profile for the routers, the
managed tag on each router's instance, root volume, network interface, Elastic IP and
route table, and user data that sets the router's host name at first boot.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncssh

from vpnwatch.lab.clients import lab_client
from vpnwatch.lab.safety import DEFAULT_REGION, require_loopback_url
from vpnwatch.lab.tags import MANAGED_TAG, ROUTER_TAG, SITE_TAG

ROUTER_BGP_ASN = 65000
ROUTER_INSTANCE_TYPE = "t3.small"  # Nitro: GetConsoleOutput Latest works
ROUTER_ROLE = "vpnwatch-router"  # the routers' instance profile and role
RELEASES = {"1.1": "1.1.8", "1.3": "1.3.8", "1.4": "1.4.3"}


# ---------------------------------------------------------------- what to build


@dataclass(frozen=True)
class SiteSpec:
    name: str
    role: str  # "hub" | "spoke"
    cidr: str
    amazon_side_asn: int
    router_host_octets: tuple[int, ...] = (11, 12)

    @property
    def subnet_cidr(self) -> str:
        return str(next(ipaddress.ip_network(self.cidr).subnets(new_prefix=24)))

    @property
    def routers(self) -> tuple[tuple[str, str], ...]:
        """(router name, private IP) pairs: hub-r1 10.0.0.11, hub-r2 10.0.0.12, ..."""
        base = ipaddress.ip_network(self.subnet_cidr).network_address
        return tuple(
            (f"{self.name}-r{i}", str(base + octet))
            for i, octet in enumerate(self.router_host_octets, start=1)
        )


ARTICLE_SITES = (
    SiteSpec("hub", "hub", "10.0.0.0/16", 64512),
    SiteSpec("spoke1", "spoke", "10.1.0.0/16", 64513),
    SiteSpec("spoke2", "spoke", "10.2.0.0/16", 64514),
)


# ---------------------------------------------------------------- what was built


@dataclass(frozen=True)
class Site:
    name: str
    role: str
    vpc_id: str
    subnet_id: str
    cidr: str
    subnet_cidr: str
    vpn_gateway_id: str
    security_group_id: str
    key_name: str
    key_public: str  # the key pair's OpenSSH public key line


@dataclass(frozen=True)
class Router:
    name: str
    site: str
    role: str
    instance_id: str
    private_ip: str
    public_ip: str  # the Elastic IP (127.x.x.x in moto)
    allocation_id: str
    eni_id: str
    customer_gateway_id: str
    image_id: str = ""


@dataclass(frozen=True)
class Tunnel:
    outside_ip: str  # the AWS end
    inside_cidr: str  # 169.254.x.y/30
    aws_inside_ip: str  # .1, the router's BGP neighbor
    router_inside_ip: str  # .2
    psk: str = field(repr=False)


@dataclass(frozen=True)
class Connection:
    id: str
    customer_gateway_id: str
    customer_gateway_ip: str
    router: str  # the router whose EIP is the customer gateway
    gateway_id: str  # the VPN gateway
    gateway_site: str  # the site that VPN gateway belongs to
    tunnels: tuple[Tunnel, ...]


@dataclass(frozen=True)
class Topology:
    region: str
    sites: tuple[Site, ...]
    routers: tuple[Router, ...]
    connections: tuple[Connection, ...]
    images: Mapping[str, str] = field(default_factory=dict)  # VyOS version → AMI id

    @property
    def tunnels(self) -> tuple[Tunnel, ...]:
        return tuple(t for c in self.connections for t in c.tunnels)

    def site(self, name: str) -> Site:
        return next(s for s in self.sites if s.name == name)

    def router(self, name: str) -> Router:
        return next(r for r in self.routers if r.name == name)

    def connections_of(self, router: str) -> tuple[Connection, ...]:
        """The VPN connections whose customer gateway is this router."""
        return tuple(c for c in self.connections if c.router == router)


# ---------------------------------------------------------------- building


def _tags(resource_type: str, name: str, extra: dict[str, str] | None = None) -> list[Any]:
    tags = {"Name": name, MANAGED_TAG[0]: MANAGED_TAG[1], **(extra or {})}
    return [
        {"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
    ]


def _build_network(ec2: Any, spec: SiteSpec, az: str) -> dict[str, str]:
    vpc = ec2.create_vpc(CidrBlock=spec.cidr, TagSpecifications=_tags("vpc", spec.name))
    vpc_id = vpc["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(
        VpcId=vpc_id,
        CidrBlock=spec.subnet_cidr,
        AvailabilityZone=az,
        TagSpecifications=_tags("subnet", f"{spec.name}-public"),
    )["Subnet"]["SubnetId"]
    ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
    igw_id = ec2.create_internet_gateway(TagSpecifications=_tags("internet-gateway", spec.name))[
        "InternetGateway"
    ]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    main_table = ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"][0]["RouteTableId"]
    ec2.create_route(RouteTableId=main_table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    ec2.create_tags(Resources=[main_table], Tags=_tags("route-table", spec.name)[0]["Tags"])
    group_id = ec2.create_security_group(
        GroupName=f"{spec.name}-vpn-routers",
        Description="VyOS VPN routers: IKE, NAT-T, ESP, SSH",
        VpcId=vpc_id,
        TagSpecifications=_tags("security-group", f"{spec.name}-vpn-routers"),
    )["GroupId"]
    anywhere = [{"CidrIp": "0.0.0.0/0"}]
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "udp", "FromPort": 500, "ToPort": 500, "IpRanges": anywhere},
            {"IpProtocol": "udp", "FromPort": 4500, "ToPort": 4500, "IpRanges": anywhere},
            {"IpProtocol": "50", "FromPort": -1, "ToPort": -1, "IpRanges": anywhere},  # ESP
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": anywhere},
        ],
    )
    key_name = f"vpnwatch-{spec.name}"
    # The site admin's own key pair (its private key is not the daemon's, and not kept).
    admin_key = asyncssh.generate_private_key("ssh-ed25519")
    key_public = admin_key.export_public_key("openssh").decode().split()[:2]
    ec2.import_key_pair(KeyName=key_name, PublicKeyMaterial=" ".join(key_public).encode())
    gateway = ec2.create_vpn_gateway(
        Type="ipsec.1",
        AmazonSideAsn=spec.amazon_side_asn,
        TagSpecifications=_tags("vpn-gateway", f"{spec.name}-vgw", {SITE_TAG: spec.name}),
    )["VpnGateway"]["VpnGatewayId"]
    ec2.attach_vpn_gateway(VpcId=vpc_id, VpnGatewayId=gateway)
    return {
        "vpc_id": vpc_id,
        "subnet_id": subnet_id,
        "security_group_id": group_id,
        "key_name": key_name,
        "key_public": " ".join(key_public),
        "vpn_gateway_id": gateway,
    }


def router_user_data(name: str) -> str:
    """What the operator gave each router at launch (cloud-init applies it at first boot)."""
    return f"#cloud-config\nvyos_config_commands:\n  - set system host-name '{name}'\n"


def _build_router(
    ec2: Any, spec: SiteSpec, site: Site, name: str, private_ip: str, image_id: str
) -> Router:
    router_tags = {ROUTER_TAG: name, SITE_TAG: spec.name}
    instance = ec2.run_instances(
        ImageId=image_id,
        InstanceType=ROUTER_INSTANCE_TYPE,
        MinCount=1,
        MaxCount=1,
        SubnetId=site.subnet_id,
        PrivateIpAddress=private_ip,
        SecurityGroupIds=[site.security_group_id],
        KeyName=site.key_name,
        IamInstanceProfile={"Name": ROUTER_ROLE},
        UserData=router_user_data(name),
        TagSpecifications=[
            *_tags("instance", name, router_tags),
            *_tags("volume", name, router_tags),
            *_tags("network-interface", name, router_tags),
        ],
    )["Instances"][0]
    instance_id = instance["InstanceId"]
    eni_id = instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
    address = ec2.allocate_address(
        Domain="vpc", TagSpecifications=_tags("elastic-ip", name, router_tags)
    )
    ec2.associate_address(AllocationId=address["AllocationId"], InstanceId=instance_id)
    # A router forwards traffic that is not its own; AWS keeps the flag on the ENI.
    ec2.modify_instance_attribute(InstanceId=instance_id, SourceDestCheck={"Value": False})
    ec2.modify_network_interface_attribute(
        NetworkInterfaceId=eni_id, SourceDestCheck={"Value": False}
    )
    cgw_id = ec2.create_customer_gateway(
        Type="ipsec.1",
        PublicIp=address["PublicIp"],
        BgpAsn=ROUTER_BGP_ASN,
        TagSpecifications=_tags("customer-gateway", name, router_tags),
    )["CustomerGateway"]["CustomerGatewayId"]
    return Router(
        name=name,
        site=spec.name,
        role=spec.role,
        instance_id=instance_id,
        private_ip=private_ip,
        public_ip=address["PublicIp"],
        allocation_id=address["AllocationId"],
        eni_id=eni_id,
        customer_gateway_id=cgw_id,
        image_id=image_id,
    )


def planned_links(sites: tuple[SiteSpec, ...]) -> list[tuple[str, str]]:
    """(gateway site, router name): hub VGW → every spoke router, spoke VGW → every hub router."""
    hubs = [s for s in sites if s.role == "hub"]
    spokes = [s for s in sites if s.role == "spoke"]
    links = [(h.name, r) for h in hubs for s in spokes for r, _ in s.routers]
    links += [(s.name, r) for s in spokes for h in hubs for r, _ in h.routers]
    return links


def _tunnels_of(description: dict[str, Any]) -> tuple[Tunnel, ...]:
    tunnels = []
    for option in description["Options"]["TunnelOptions"]:
        net = ipaddress.ip_network(option["TunnelInsideCidr"])
        tunnels.append(
            Tunnel(
                outside_ip=option["OutsideIpAddress"],
                inside_cidr=str(net),
                aws_inside_ip=str(net[1]),
                router_inside_ip=str(net[2]),
                psk=option["PreSharedKey"],
            )
        )
    return tuple(tunnels)


def register_images(ec2: Any, versions: set[str]) -> dict[str, str]:
    """One VyOS AMI per version, named as VyOS's own images are ("vyos-1.4.3-...")."""
    images = {}
    for version in sorted(versions):
        release = RELEASES.get(version, version)
        images[version] = ec2.register_image(
            Name=f"vyos-{release}-amd64-lab",
            Description=f"VyOS {release} (vpnwatch lab)",
            Architecture="x86_64",
            RootDeviceName="/dev/xvda",
            VirtualizationType="hvm",
            BlockDeviceMappings=[
                {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 10, "VolumeType": "gp3"}}
            ],
        )["ImageId"]
    return images


def _router_profile(endpoint_url: str, region: str) -> None:
    iam = lab_client("iam", endpoint_url, region)
    trust = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
        '{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
    )
    iam.create_role(RoleName=ROUTER_ROLE, AssumeRolePolicyDocument=trust)
    iam.create_instance_profile(InstanceProfileName=ROUTER_ROLE)
    iam.add_role_to_instance_profile(InstanceProfileName=ROUTER_ROLE, RoleName=ROUTER_ROLE)


def build_topology(
    endpoint_url: str,
    *,
    region: str = DEFAULT_REGION,
    sites: tuple[SiteSpec, ...] = ARTICLE_SITES,
    versions: Mapping[str, str] | None = None,
) -> Topology:
    """Create the world in the emulated AWS at `endpoint_url` (loopback only) and describe it.
    `versions`: router name → VyOS version (default 1.4): its AMI."""
    require_loopback_url(endpoint_url)
    ec2 = lab_client("ec2", endpoint_url, region)
    chosen = dict(versions or {})
    images = register_images(ec2, {chosen.get(r, "1.4") for s in sites for r, _ in s.routers})
    _router_profile(endpoint_url, region)
    az = f"{region}a"
    built_sites: list[Site] = []
    routers: list[Router] = []
    for spec in sites:
        net = _build_network(ec2, spec, az)
        site = Site(
            name=spec.name, role=spec.role, cidr=spec.cidr, subnet_cidr=spec.subnet_cidr, **net
        )
        built_sites.append(site)
        routers += [
            _build_router(ec2, spec, site, name, ip, images[chosen.get(name, "1.4")])
            for name, ip in spec.routers
        ]
    by_site = {s.name: s for s in built_sites}
    by_router = {r.name: r for r in routers}
    created: list[tuple[str, str, str]] = []  # (vpn id, gateway site, router)
    for gateway_site, router_name in planned_links(sites):
        router = by_router[router_name]
        vpn_id = ec2.create_vpn_connection(
            Type="ipsec.1",
            CustomerGatewayId=router.customer_gateway_id,
            VpnGatewayId=by_site[gateway_site].vpn_gateway_id,
            Options={"StaticRoutesOnly": False},
            TagSpecifications=_tags(
                "vpn-connection",
                f"{gateway_site}-to-{router_name}",
                {ROUTER_TAG: router_name, SITE_TAG: gateway_site},
            ),
        )["VpnConnection"]["VpnConnectionId"]
        created.append((vpn_id, gateway_site, router_name))
    described = {
        c["VpnConnectionId"]: c
        for c in ec2.describe_vpn_connections(VpnConnectionIds=[v for v, _, _ in created])[
            "VpnConnections"
        ]
    }
    connections = tuple(
        Connection(
            id=vpn_id,
            customer_gateway_id=by_router[router_name].customer_gateway_id,
            customer_gateway_ip=by_router[router_name].public_ip,
            router=router_name,
            gateway_id=by_site[gateway_site].vpn_gateway_id,
            gateway_site=gateway_site,
            tunnels=_tunnels_of(described[vpn_id]),
        )
        for vpn_id, gateway_site, router_name in created
    )
    return Topology(region, tuple(built_sites), tuple(routers), connections, images)
