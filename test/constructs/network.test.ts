import { Network } from '../../constructs/network';
import { resources, synthesize } from '../support/synth';

describe('Network', () => {
  it('creates public and private subnets in two AZs with literal CIDRs, NAT per AZ, gateway endpoints and flow logs', () => {
    const json = synthesize((stack) => new Network(stack, 'net'));
    const subnets = Object.values(resources(json, 'aws_subnet'));
    expect(subnets.map((s) => [s.cidr_block, s.tags.Tier, s.map_public_ip_on_launch ?? false]).sort()).toEqual([
      ['10.0.0.0/20', 'public', false],
      ['10.0.128.0/20', 'private', false],
      ['10.0.144.0/20', 'private', false],
      ['10.0.16.0/20', 'public', false],
    ]);
    expect(Object.keys(resources(json, 'aws_nat_gateway'))).toHaveLength(2);
    const endpoints = Object.values(resources(json, 'aws_vpc_endpoint'));
    expect(endpoints.map((e) => e.service_name)).toEqual([
      'com.amazonaws.${data.aws_region.net_Region_F3C7E6B9.region}.dynamodb',
      'com.amazonaws.${data.aws_region.net_Region_F3C7E6B9.region}.s3',
    ]);
    expect(endpoints[0].route_table_ids).toHaveLength(2);
    expect(Object.values(resources(json, 'aws_flow_log'))[0]).toMatchObject({ traffic_type: 'ALL' });
    expect(Object.values(resources(json, 'aws_cloudwatch_log_group'))[0]).toMatchObject({ retention_in_days: 90 });
  });

  it('uses one NAT gateway for every private subnet when asked', () => {
    const json = synthesize((stack) => new Network(stack, 'net', { natGateways: 'single', azCount: 3, flowLogs: false }));
    expect(Object.keys(resources(json, 'aws_nat_gateway'))).toHaveLength(1);
    const routes = Object.values(resources(json, 'aws_route')).filter((r) => r.nat_gateway_id);
    expect(new Set(routes.map((r) => r.nat_gateway_id)).size).toBe(1);
    expect(routes).toHaveLength(3);
    expect(resources(json, 'aws_flow_log')).toEqual({});
  });

  it('adopts an existing VPC and only adds gateway endpoints to the given route tables', () => {
    const json = synthesize((stack) => {
      const net = new Network(stack, 'net', { existing: { vpcId: 'vpc-1', publicSubnetIds: ['subnet-a', 'subnet-b'], privateSubnetIds: ['subnet-c', 'subnet-d'], privateRouteTableIds: ['rtb-1'] } });
      expect(net.privateSubnetIds).toEqual(['subnet-c', 'subnet-d']);
    });
    expect(resources(json, 'aws_vpc')).toEqual({});
    expect(Object.values(resources(json, 'aws_vpc_endpoint')).map((e) => e.route_table_ids)).toEqual([['rtb-1'], ['rtb-1']]);
  });

  it.each([
    [{ cidr: '10.0.0.0/8' }, "net': cidr = \"10.0.0.0/8\" is invalid. Use an IPv4 range from /16 to /24"],
    [{ cidr: '10.0.0.1/16' }, 'The address has host bits set; use 10.0.0.0/16.'],
    [{ azCount: 1 }, 'azCount = 1 is invalid. Use a whole number from 2 to 6.'],
    [{ natGateways: 'none' as any }, 'natGateways = "none" is invalid. Use one of: per-az, single.'],
    [{ availabilityZones: ['us-east-1a', 'us-east-1a'] }, 'availabilityZones = ["us-east-1a","us-east-1a"] is invalid. Remove the duplicate ids.'],
    [{ availabilityZones: ['us-east-1a', 'us-east-1b'], azCount: 3 }, 'azCount = 3 is invalid. It must match availabilityZones (2)'],
    [{ existing: { vpcId: 'vpc-1', publicSubnetIds: ['a', 'b'], privateSubnetIds: ['c'] } }, 'existing.privateSubnetIds = ["c"] is invalid. Give at least 2 private subnets'],
  ])('rejects %j with a message naming the prop and the fix', (props, message) => {
    expect(() => synthesize((stack) => new Network(stack, 'net', props))).toThrow(message);
  });
});
